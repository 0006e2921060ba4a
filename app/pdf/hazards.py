"""Find what an upload may not contain: scripts and other actions that run on their own,
attached files, XFA forms and existing signatures. Every object is visited once, and every
stream's decoded size is measured on the way.

Checks look at meaning, not only at key names: resource dictionaries use arbitrary names, so a
font that happens to be called /AA or /JS must not make a document "active".
"""

from collections.abc import Iterator

import pikepdf

from app.pdf.limits import GateLimits
from app.pdf.results import PdfRejected
from app.pdf.streams import DecodeBudget

# Actions that run code, start programs or pull in outside data. URI, GoTo, SubmitForm and the
# like stay allowed: they only act when a reader clicks, and plain documents use them.
_ACTIVE_ACTIONS = frozenset({"/JavaScript", "/Launch", "/RichMediaExecute", "/ImportData"})
_SIGNATURE_TYPES = frozenset({"/Sig", "/DocTimeStamp"})
# What a stream that a resource dictionary happens to name /JS is: an image or form XObject,
# a pattern, a shading or a function, each recognisable by its own dictionary.
_GRAPHICS_SUBTYPES = frozenset({"/Image", "/Form", "/PS"})
_GRAPHICS_KEYS = ("/PatternType", "/ShadingType", "/FunctionType")


def scan_document(
    pdf: pikepdf.Pdf,
    budget: DecodeBudget,
    limits: GateLimits,
    *,
    allow_signatures: bool = False,
) -> None:
    """Raise PdfRejected for the first forbidden feature found, for a decompression bomb, or,
    once nothing forbidden was found, for objects nested too deep ("too_complex").

    allow_signatures lets signatures and DocMDP /Perms through: a file sent to be validated is
    expected to be signed, and is only read, never signed again.
    """
    _check_catalog(pdf.Root, allow_signatures=allow_signatures)
    deepest = 0
    for obj in (pdf.trailer, *pdf.objects):
        for node, depth in _containers_within(obj):
            deepest = max(deepest, depth)
            if isinstance(node, pikepdf.Dictionary | pikepdf.Stream):
                _check_dictionary(node, allow_signatures=allow_signatures)
        if isinstance(obj, pikepdf.Stream):
            budget.measure(obj)
    if deepest > limits.max_nesting_depth:
        raise PdfRejected(
            "too_complex",
            f"the file nests objects {deepest} levels deep (at most {limits.max_nesting_depth})",
        )


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


def _containers_within(obj: pikepdf.Object) -> Iterator[tuple[pikepdf.Object, int]]:
    """The object itself if a container, and the containers nested in it directly, each with
    its depth (the object's own is 1).

    Indirect references are not followed: each indirect object gets its own turn in the scan.
    A loop keeps the stack explicit, since qpdf allows nesting far deeper than Python recursion.
    """
    pending = [(obj, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, pikepdf.Dictionary | pikepdf.Stream):
            children = node.values()
        elif isinstance(node, pikepdf.Array):
            children = list(node)
        else:
            continue
        yield node, depth
        pending.extend((child, depth + 1) for child in children if _is_direct_container(child))


def _is_direct_container(value: object) -> bool:
    return isinstance(value, pikepdf.Dictionary | pikepdf.Array) and not value.is_indirect


def _check_dictionary(dictionary: pikepdf.Object, *, allow_signatures: bool) -> None:
    keys = dictionary.keys()
    action = _name(dictionary, "/S") if "/S" in keys else None
    if action in _ACTIVE_ACTIONS:
        raise PdfRejected("active_content", f"the document contains a {action} action")
    if "/JS" in keys and _is_script(dictionary, dictionary.get("/JS"), keys, action):
        raise PdfRejected("active_content", "the document contains JavaScript")
    if action == "/URI" and _is_script_uri(dictionary.get("/URI")):
        raise PdfRejected("active_content", "the document has a javascript: link")
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


def _is_script(holder: pikepdf.Object, script: object, keys: set[str], action: str | None) -> bool:
    """/JS holds a script as a string or a stream, under any action type (a /Rendition runs
    one too) or none. A stream is let through only where a resource dictionary merely names a
    graphics resource /JS, and the dictionary holding it is no action."""
    if isinstance(script, pikepdf.String):
        return True
    if not isinstance(script, pikepdf.Stream):
        return False
    if action is not None or "/Next" in keys or _name(holder, "/Type") == "/Action":
        return True
    return not _is_graphics_resource(script)


def _is_script_uri(uri: object) -> bool:
    """A javascript: URI, spelt as browsers read it: case aside, and with the whitespace and
    control characters they skip, before and within the scheme."""
    if not isinstance(uri, pikepdf.String):
        return False
    spelt = bytes(uri).translate(None, bytes(range(33))).lower()
    return spelt.startswith(b"javascript:")


def _is_graphics_resource(stream: pikepdf.Stream) -> bool:
    entries = stream.stream_dict
    if "/Subtype" in entries and _name(entries, "/Subtype") in _GRAPHICS_SUBTYPES:
        return True
    return any(key in entries for key in _GRAPHICS_KEYS)


def _holds_actions(value: object) -> bool:
    """An additional-actions dictionary maps triggers to action dictionaries: any entry that
    looks like an action at all (typed, scripted or chained) makes it one."""
    if not isinstance(value, pikepdf.Dictionary):
        return False
    return any(_is_action(entry) for entry in value.values())


def _is_action(value: object) -> bool:
    if not isinstance(value, pikepdf.Dictionary):
        return False
    keys = value.keys()
    if "/S" in keys or "/JS" in keys or "/Next" in keys:
        return True
    return "/Type" in keys and _name(value, "/Type") == "/Action"


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
