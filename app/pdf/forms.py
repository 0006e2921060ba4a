"""The AcroForm field tree, walked once with a bound on its size and depth.

pyHanko walks this tree recursively each time it looks a field up: when Cachet adds the signature
fields at send, and again for every signature. A /Kids entry pointing back up would have it loop,
a field shared by two parents makes the walk exponential in the depth, a deep tree exhausts its
recursion, and a wide one costs seconds per look-up. The tree must therefore be a tree: every
node reached once, by an indirect reference, within the caps.
"""

from collections.abc import Iterator

import pikepdf

from app.pdf.limits import GateLimits
from app.pdf.results import PdfRejected


def check_form_tree(pdf: pikepdf.Pdf, limits: GateLimits) -> None:
    """Raise PdfRejected ("too_complex" or "damaged") unless the field tree is a proper tree
    within limits.max_form_fields nodes and limits.max_form_depth levels, and every page's
    /Annots is an array (pyHanko appends each new field's widget to it)."""
    _require_annotation_arrays(pdf)
    if "/AcroForm" not in pdf.Root:
        return
    acro_form = pdf.Root.get("/AcroForm")
    if not isinstance(acro_form, pikepdf.Dictionary):
        raise PdfRejected("damaged", "the document's /AcroForm is not a dictionary")
    if "/Fields" not in acro_form:
        return
    seen: set[tuple[int, int]] = set()
    pending = [(node, 1) for node in _nodes(acro_form.get("/Fields"), "/Fields")]
    while pending:
        node, depth = pending.pop()
        if node.objgen in seen:
            raise PdfRejected(
                "too_complex", "the form's field tree loops, or a field has two parents"
            )
        seen.add(node.objgen)
        if len(seen) > limits.max_form_fields:
            raise PdfRejected(
                "too_complex",
                f"the form has more than {limits.max_form_fields} fields and widgets",
            )
        if "/Kids" not in node:
            continue
        if depth >= limits.max_form_depth:
            raise PdfRejected(
                "too_complex",
                f"the form's field tree is more than {limits.max_form_depth} levels deep",
            )
        pending.extend((kid, depth + 1) for kid in _nodes(node.get("/Kids"), "/Kids"))


def _nodes(array: object, key: str) -> Iterator[pikepdf.Dictionary]:
    """The entries of /Fields or /Kids, which must all be references to dictionaries (pyHanko
    trips over anything else when it adds a field)."""
    if not isinstance(array, pikepdf.Array):
        raise PdfRejected("damaged", f"a form's {key} is not an array")
    for entry in array:
        if not isinstance(entry, pikepdf.Dictionary) or not entry.is_indirect:
            raise PdfRejected(
                "damaged", f"a form's {key} holds something other than a reference to a field"
            )
        yield entry


def _require_annotation_arrays(pdf: pikepdf.Pdf) -> None:
    for number, page in enumerate(pdf.pages, start=1):
        if "/Annots" in page.obj and not isinstance(page.obj.get("/Annots"), pikepdf.Array):
            raise PdfRejected("damaged", f"page {number}'s /Annots is not an array")
