"""A file's earlier revisions, as pyHanko reads them.

qpdf shows the gate the file as its last cross-reference section describes it. A signed file
stays signed after an incremental update frees or replaces its signature objects: the signed
revision is still there, byte for byte, and only the latest view hides it. So an object that a
later revision frees or redefines is read as it was, in the revision that defined it. Objects no
later revision touches are live and were already seen by the scan of the whole file.

The same cross-reference sections are what pyHanko reads each time it opens the file (at send,
at every signature), so their number and total size are capped here as well.
"""

import re
from collections.abc import Iterator

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.xref import XRefSectionData

from app.pdf.limits import GateLimits
from app.pdf.results import PdfRejected

_SIGNATURE_TYPES = frozenset({"/Sig", "/DocTimeStamp"})
_MAX_NESTING = 64
"""Levels of direct nesting looked into within one historical object (as the gate's default
for the live file)."""

_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*\d+\s+\d+\s+\d+\s+\d+\s*\]")
"""What every signature has, in the file's bytes as they are: its /Contents must sit at a known
offset, so a signature dictionary is never compressed into an object stream."""


def require_no_byte_range(data: bytes) -> None:
    """A signed revision need not even be chained to the last one by /Prev: whatever no
    cross-reference section lists, the bytes still hold. (The literal text would also match in
    an uncompressed content stream; no document to be signed should need it.)"""
    if _BYTE_RANGE.search(data):
        raise PdfRejected("already_signed", "the file's bytes hold a signature's /ByteRange")


def check_revisions(reader: PdfFileReader, limits: GateLimits, *, allow_signatures: bool) -> None:
    """Refuse too many revisions or cross-reference entries, and, unless allow_signatures,
    a signature in any revision ("already_signed")."""
    xrefs = reader.xrefs
    revisions = xrefs.total_revisions
    if revisions > limits.max_revisions:
        raise PdfRejected(
            "too_complex",
            f"the file has {revisions} revisions (at most {limits.max_revisions})",
        )
    sections = [_sections(xrefs.get_xref_data(revision)) for revision in range(revisions)]
    entries = sum(_entry_count(data) for revision in sections for data in revision)
    if entries > limits.max_objects:
        raise PdfRejected(
            "too_many_objects",
            f"the file's revisions list {entries} objects together (at most {limits.max_objects})",
        )
    if not allow_signatures:
        _require_unsigned_history(reader, sections)


def _sections(data: XRefSectionData) -> list[XRefSectionData]:
    """A revision's cross-reference data, with its hybrid (XRefStm) part if it has one."""
    # XRefCache and XRefSectionData are pyHanko's internal API: the public part has no way to
    # tell an object defined in a revision from one freed in it. pyproject.toml pins 0.38.x.
    return [data] if data.hybrid is None else [data, data.hybrid.xref_data]


def _entry_count(data: XRefSectionData) -> int:
    return len(data.standard_xrefs) + len(data.xrefs_in_objstm) + len(data.freed)


def _defined(sections: list[XRefSectionData]) -> Iterator[tuple[int, int]]:
    for data in sections:
        yield from ((idnum, generation) for idnum, (generation, _) in data.standard_xrefs.items())
        yield from ((idnum, 0) for idnum in data.xrefs_in_objstm)


def _touched(sections: list[XRefSectionData]) -> set[int]:
    """Object numbers a revision defines or frees."""
    numbers: set[int] = set()
    for data in sections:
        numbers.update(data.standard_xrefs, data.xrefs_in_objstm, data.freed)
    return numbers


def _require_unsigned_history(reader: PdfFileReader, sections: list[list[XRefSectionData]]) -> None:
    touched_later: set[int] = set()
    for revision in reversed(range(len(sections) - 1)):
        touched_later |= _touched(sections[revision + 1])
        for idnum, generation in _defined(sections[revision]):
            if idnum not in touched_later:
                continue  # still live: the scan of the whole file saw it
            ref = generic.Reference(idnum, generation, reader)
            historical = reader.get_object(ref, revision=revision)  # type: ignore[no-untyped-call]
            if _holds_signature(historical):
                raise PdfRejected(
                    "already_signed",
                    f"revision {revision} of the document carries a signature that a later "
                    "update removed from view",
                )


def _holds_signature(obj: generic.PdfObject) -> bool:
    """A signature value or a filled signature field, in the object or nested in it."""
    pending: list[tuple[generic.PdfObject, int]] = [(obj, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, generic.DictionaryObject):
            if _is_signature(node):
                return True
            children = list(node.values())
        elif isinstance(node, generic.ArrayObject):
            children = list(node)
        else:
            continue
        if depth < _MAX_NESTING:
            pending.extend((child, depth + 1) for child in children)
    return False


def _is_signature(dictionary: generic.DictionaryObject) -> bool:
    if "/ByteRange" in dictionary and "/Contents" in dictionary:
        return True
    kind = dictionary.raw_get("/Type") if "/Type" in dictionary else None
    if kind in _SIGNATURE_TYPES:
        return "/Contents" in dictionary or "/ByteRange" in dictionary
    if "/FT" not in dictionary or "/V" not in dictionary:
        return False
    return bool(dictionary.raw_get("/FT") == "/Sig")
