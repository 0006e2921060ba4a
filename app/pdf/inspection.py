"""The gate's pure part: decide on one file, synchronously, inside a worker process.

A file passes only if both parsers the service relies on accept it as it is: qpdf (through
pikepdf) without its repair mode, and pyHanko's strict reader, which is what signs it later.
"""

import io
import pathlib

import pikepdf
from pyhanko.pdf_utils.reader import PdfFileReader

from app.pdf.forms import check_form_tree
from app.pdf.geometry import page_geometry
from app.pdf.hazards import scan_document
from app.pdf.limits import GateLimits
from app.pdf.qpdf import raise_if_out_of_memory
from app.pdf.results import PdfInfo, PdfRejected
from app.pdf.revisions import check_revisions, require_no_byte_range
from app.pdf.streams import DecodeBudget

_HEADER = b"%PDF-"

# Not run: pikepdf's check_pdf_syntax() (`qpdf --check`). It decodes every stream with no bound,
# so it must never see a bomb, and even within the page cap it is slow: measured 200 ms on a
# 15 MB single-image file and 150 ms on 500 text pages, against 1 ms and 50 ms for this whole
# gate. Bounded decoding (streams.py), qpdf without recovery and pyHanko's strict reader cover
# the structure; the syntax of content streams is left to whatever renders them.


def inspect_pdf(
    path: pathlib.Path, limits: GateLimits, *, allow_signatures: bool = False
) -> PdfInfo:
    """Accept the PDF at `path` and describe its pages, or raise PdfRejected.

    Uploads refuse signed files ("already_signed"); allow_signatures accepts them, for files
    that are only to be validated. Every other check stays the same.
    MemoryError is left to propagate: the worker pool turns it into "too_complex".
    """
    _require_header(path)
    with _open_without_repair(path) as pdf:
        try:
            _require_size_within(pdf, limits)
            _require_no_repair(pdf, path, "had to repair the file")
            _require_strict_pyhanko_parse(path, limits, allow_signatures=allow_signatures)
            scan_document(pdf, DecodeBudget(limits), limits, allow_signatures=allow_signatures)
            check_form_tree(pdf, limits)
            pages = tuple(page_geometry(page.obj) for page in pdf.pages)
            # Every object has been read by now: anything qpdf mended on the way (a stream
            # /Length that is off, data nested past its limit) is refused too.
            _require_no_repair(pdf, path, "had to mend an object while reading it")
        except pikepdf.PdfError as exc:  # qpdf resolves objects lazily, so errors surface late
            raise_if_out_of_memory(exc)
            raise PdfRejected("damaged", _qpdf_reason(exc, path)) from None
    return PdfInfo(page_count=len(pages), pages=pages)


def _require_header(path: pathlib.Path) -> None:
    # qpdf tolerates junk before the header, pyHanko does not; neither do we.
    with path.open("rb") as file:
        if file.read(len(_HEADER)) != _HEADER:
            raise PdfRejected("not_a_pdf", "the file does not start with %PDF-")


def _open_without_repair(path: pathlib.Path) -> pikepdf.Pdf:
    try:
        pdf = pikepdf.open(path, attempt_recovery=False)
    except pikepdf.PasswordError:  # not a PdfError subclass
        raise PdfRejected("encrypted", "the file needs a password to open") from None
    except pikepdf.PdfError as exc:
        raise_if_out_of_memory(exc)
        raise PdfRejected("damaged", _qpdf_reason(exc, path)) from None
    if pdf.is_encrypted:
        pdf.close()
        raise PdfRejected("encrypted", "the file is encrypted (owner password or permissions)")
    return pdf


def _require_size_within(pdf: pikepdf.Pdf, limits: GateLimits) -> None:
    """Page and object caps, checked from the cheapest figure to the dearest."""
    pages_node = pdf.Root.get("/Pages")
    if not isinstance(pages_node, pikepdf.Dictionary):
        raise PdfRejected("damaged", "the catalog has no page tree")
    declared = pages_node.get("/Count")
    if isinstance(declared, int) and declared > limits.max_pages:
        raise _too_many_pages(declared, limits)
    # The xref table is already parsed; counting it resolves no object.
    objects = sum(1 for entry in pdf.get_xref_table().values() if entry.type != 0)
    if objects > limits.max_objects:
        raise PdfRejected(
            "too_many_objects", f"the file has {objects} objects (at most {limits.max_objects})"
        )
    # /Count may lie; walking the tree costs at most one step per object, bounded just above.
    actual = len(pdf.pages)
    if actual > limits.max_pages:
        raise _too_many_pages(actual, limits)
    if actual == 0:
        raise PdfRejected("damaged", "the file has no pages")


def _require_no_repair(pdf: pikepdf.Pdf, path: pathlib.Path, what: str) -> None:
    """qpdf still mends some things with recovery off, and only warns: at opening, a page
    without a MediaBox becomes Letter and a broken page tree is rebuilt; while reading objects,
    a stream whose /Length is wrong is measured up to its endstream keyword instead, and data
    nested too deep is dropped. pyHanko does neither the same way, and a signature over bytes
    the two parsers read differently does not validate: every warning refuses the file.
    """
    warnings = pdf.get_warnings()
    if not warnings:
        return
    message = str(warnings[0]).replace(str(path), "").lstrip(":, ")
    if "limits error" in message:  # qpdf's own caps (nesting, sizes): a hostile shape
        raise PdfRejected("too_complex", f"qpdf {what}: {message}")
    raise PdfRejected("damaged", f"qpdf {what}: {message}")


def _too_many_pages(count: int, limits: GateLimits) -> PdfRejected:
    return PdfRejected("too_many_pages", f"the file has {count} pages (at most {limits.max_pages})")


def _require_strict_pyhanko_parse(
    path: pathlib.Path, limits: GateLimits, *, allow_signatures: bool
) -> None:
    """pyHanko's strict reader opens the file, and its revisions are within limits (and
    unsigned, unless allowed); and, unless allowed, no signature hides in its bytes."""
    data = path.read_bytes()
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=True)
        reader.root["/Pages"]  # resolves the catalog and the page tree root
        check_revisions(reader, limits, allow_signatures=allow_signatures)
    except (MemoryError, PdfRejected):
        raise
    except Exception as exc:
        # Whatever pyHanko raises on this file, it would raise again when signing it.
        raise PdfRejected("damaged", f"pyHanko's strict reader refused the file: {exc}") from None
    if not allow_signatures:
        require_no_byte_range(data)


def _qpdf_reason(exc: pikepdf.PdfError, path: pathlib.Path) -> str:
    # qpdf prefixes messages with the file name; the upload's temporary path is nobody's business.
    message = str(exc).replace(str(path), "").lstrip(": ")
    return f"qpdf could not read the file without repairing it: {message}"
