"""Find what an upload may not contain: scripts and other actions that run on their own,
attached files, XFA forms and existing signatures. Every object is visited once, and every
stream's decoded size is measured on the way.

Checks look at meaning, not only at key names: resource dictionaries use arbitrary names, so a
font that happens to be called /AA or /JS must not make a document "active".
"""

from collections.abc import Iterator

import pikepdf

from app.pdf.results import PdfRejected
from app.pdf.streams import DecodeBudget

# Actions that run code, start programs or pull in outside data. URI, GoTo, SubmitForm and the
# like stay allowed: they only act when a reader clicks, and plain documents use them.
_ACTIVE_ACTIONS = frozenset({"/JavaScript", "/Launch", "/RichMediaExecute", "/ImportData"})
_SIGNATURE_TYPES = frozenset({"/Sig", "/DocTimeStamp"})


def scan_document(
    pdf: pikepdf.Pdf, budget: DecodeBudget, *, allow_signatures: bool = False
) -> None:
    """Raise PdfRejected for the first forbidden feature found, or for a decompression bomb.

    allow_signatures lets signatures and DocMDP /Perms through: a file sent to be validated is
    expected to be signed, and is only read, never signed again.
    """
    _check_catalog(pdf.Root, allow_signatures=allow_signatures)
    for obj in pdf.objects:
        for dictionary in _dictionaries_within(obj):
            _check_dictionary(dictionary, allow_signatures=allow_signatures)
        if isinstance(obj, pikepdf.Stream):
            budget.measure(obj)


def _check_catalog(root: pikepdf.Object, *, allow_signatures: bool) -> None:
    open_action = root.get("/OpenAction")
    if isinstance(open_action, pikepdf.Dictionary) and (
        _name(open_action, "/S") != "/GoTo" or "/Next" in open_action
    ):
        raise PdfRejected("active_content", "the document runs an action other than GoTo on open")
    names = root.get("/Names")
    if isinstance(names, pikepdf.Dictionary):
        if "/JavaScript" in names:
            raise PdfRejected("active_content", "the document has document-level JavaScript")
        if "/EmbeddedFiles" in names:
            raise PdfRejected("embedded_files", "the document has embedded files")
    acro_form = root.get("/AcroForm")
    if isinstance(acro_form, pikepdf.Dictionary) and "/XFA" in acro_form:
        raise PdfRejected("xfa", "the document has an XFA form")
    perms = root.get("/Perms")
    if isinstance(perms, pikepdf.Dictionary) and len(perms.keys()) > 0 and not allow_signatures:
        raise PdfRejected("already_signed", "the document carries DocMDP or usage-rights /Perms")


def _dictionaries_within(obj: pikepdf.Object) -> Iterator[pikepdf.Object]:
    """The object itself if a dictionary or stream, and the dictionaries nested in it directly.

    Indirect references are not followed: each indirect object gets its own turn in the scan.
    A loop keeps the stack explicit, since qpdf allows nesting far deeper than Python recursion.
    """
    pending = [obj]
    while pending:
        node = pending.pop()
        if isinstance(node, pikepdf.Dictionary | pikepdf.Stream):
            yield node
            children = node.values()
        elif isinstance(node, pikepdf.Array):
            children = list(node)
        else:
            continue
        pending.extend(child for child in children if _is_direct_container(child))


def _is_direct_container(value: object) -> bool:
    return isinstance(value, pikepdf.Dictionary | pikepdf.Array) and not value.is_indirect


def _check_dictionary(dictionary: pikepdf.Object, *, allow_signatures: bool) -> None:
    keys = dictionary.keys()
    action = _name(dictionary, "/S") if "/S" in keys else None
    if action in _ACTIVE_ACTIONS:
        raise PdfRejected("active_content", f"the document contains a {action} action")
    if "/JS" in keys and isinstance(dictionary.get("/JS"), pikepdf.String):
        raise PdfRejected("active_content", "the document contains JavaScript")
    if "/AA" in keys and _holds_actions(dictionary.get("/AA")):
        raise PdfRejected("active_content", "the document has additional (automatic) actions")
    subtype = _name(dictionary, "/Subtype") if "/Subtype" in keys else None
    if subtype == "/RichMedia":
        raise PdfRejected("active_content", "the document has a RichMedia annotation")
    if subtype == "/FileAttachment":
        raise PdfRejected("embedded_files", "the document has a file attachment annotation")
    if _is_embedded_file(dictionary, keys):
        raise PdfRejected("embedded_files", "the document has embedded files")
    if not allow_signatures and _is_signature(dictionary, keys):
        raise PdfRejected("already_signed", "the document already carries a signature")


def _holds_actions(value: object) -> bool:
    """An additional-actions dictionary maps triggers to action dictionaries."""
    if not isinstance(value, pikepdf.Dictionary):
        return False
    return any(
        isinstance(action, pikepdf.Dictionary) and "/S" in action for action in value.values()
    )


def _is_embedded_file(dictionary: pikepdf.Object, keys: set[str]) -> bool:
    if "/Type" in keys and _name(dictionary, "/Type") == "/EmbeddedFile":
        return True
    files = dictionary.get("/EF") if "/EF" in keys else None
    return isinstance(files, pikepdf.Dictionary) and any(
        isinstance(files.get(key), pikepdf.Stream) for key in ("/F", "/UF")
    )


def _is_signature(dictionary: pikepdf.Object, keys: set[str]) -> bool:
    """A signature value (whatever its /Type says), or a signature field that holds one."""
    if "/ByteRange" in keys and "/Contents" in keys:
        return True
    if "/Type" in keys and _name(dictionary, "/Type") in _SIGNATURE_TYPES:
        return "/Contents" in keys or "/ByteRange" in keys
    return "/FT" in keys and "/V" in keys and _name(dictionary, "/FT") == "/Sig"


def _name(dictionary: pikepdf.Object, key: str) -> str | None:
    value = dictionary.get(key)
    return str(value) if isinstance(value, pikepdf.Name) else None
