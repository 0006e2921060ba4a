"""Validate every signature of a PDF offline and report one verdict per signature and overall.

Runs where a hostile file can do no harm to the service: the API calls validate_pdf in the PDF
gate's resource-capped worker processes. The function is synchronous and starts its own event
loop (pyHanko's validation is async inside), so it must not be called from a running loop.

Choices, and why:
- Offline: the validation context never fetches. It knows the given trust roots plus what the
  file carries (the DSS's certificates, CRLs and OCSP responses, and revocation data archived
  inside each CMS). A service that fetched URLs named by an uploaded file would let anyone make
  it call any address.
- Revocation soft-fail by default (pyhanko-certvalidator's default mode): for a certificate
  that names a CRL or OCSP service, as real ones do, the revocation data embedded in the file is
  checked and a revoked certificate fails; data that is simply absent is not held against the
  signature. That is what lets a B-T signature (no embedded revocation data, by definition)
  pass when its chain is trusted. `revocation="hard"` is the strict mode: every certificate
  below a trust root must have revocation data in the file (pyhanko-certvalidator's "require"),
  so only signatures that carry their validation data (B-LT, B-LTA) pass.
- Each signature says its PAdES level (B-B, B-T, B-LT, B-LTA) and whether the file carries the
  revocation data its chains need; the report lists the empty signature fields (a sign that
  revisions may be missing) and the SHA-256 of every revision prefix of the file, by which the
  service recognises a file it signed (the caller looks those up; this module knows no rows).
- Validation time is now: a signature whose certificate has since expired reports
  "certificate not trusted". Long-term (B-LTA) validation in the past is not done here.
- Verdicts gate on pyHanko's bottom_line (for a document timestamp, its equivalent: intact,
  valid, trusted and no disallowed change after it), never on `intact` alone: a page drawn
  in a later revision leaves every signature intact.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import mmap
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import SignatureCoverageLevel

from app.signing.validation_reasons import short_error
from app.signing.validation_signatures import (
    Judging,
    RevocationMode,
    SignatureReport,
    Verdict,
    document_revinfo,
    file_order,
    judge,
    signatures_in,
)

NO_SIGNATURE = "no signature"
MODIFIED_AFTER_LAST = "the document was modified after the last signature"


class UnreadablePdf(Exception):
    """The file cannot be read as a PDF at all, so no signature can be judged."""


@dataclass(frozen=True)
class ValidationReport:
    verdict: Verdict
    reasons: tuple[str, ...]
    signature_count: int
    modified_after_last_signature: bool
    validated_at: datetime
    signatures: tuple[SignatureReport, ...] = field(default=())
    unsigned_fields: tuple[str, ...] = ()
    """Signature fields with no signature in them, in the file's order."""
    revision_digests: tuple[str, ...] = ()
    """SHA-256 (hex) of the file's prefixes that end a revision (after each %%EOF), shortest
    first, the whole file last: an earlier version of the file is one of them."""
    revocation: RevocationMode = "soft"


def validate_pdf(
    path: Path,
    trust_roots: Sequence[asn1_x509.Certificate | bytes],
    *,
    now: datetime,
    revocation: RevocationMode = "soft",
) -> ValidationReport:
    """Validate every signature and document timestamp in the PDF at `path`, offline, as at
    `now` (the service clock), with revocation data optional (soft) or required (hard).

    trust_roots may be given as DER bytes, which is how they cross to a worker process: an
    asn1crypto certificate that has been parsed does not survive pickling intact.
    Raises UnreadablePdf when the file is not a readable, unencrypted PDF. A signature that
    cannot be read is reported as failed; it does not stop the others from being judged.
    """
    roots = trust_roots_of(trust_roots)
    with path.open("rb") as stream:
        reader = open_pdf(stream)
        signatures = asyncio.run(_judge_all(reader, roots, now, revocation))
        unsigned = _unsigned_fields(reader)
    report = _document_report(signatures, now)
    return dataclasses.replace(
        report,
        unsigned_fields=unsigned,
        revision_digests=revision_digests(path),
        revocation=revocation,
    )


def trust_roots_of(
    given: Sequence[asn1_x509.Certificate | bytes],
) -> tuple[asn1_x509.Certificate, ...]:
    """Certificates as given, or parsed from the DER they crossed a process boundary as."""
    return tuple(
        root if isinstance(root, asn1_x509.Certificate) else asn1_x509.Certificate.load(root)
        for root in given
    )


def open_pdf(stream: Any) -> PdfFileReader:
    """pyHanko's strict reader on the file; UnreadablePdf if it is not a readable PDF."""
    try:
        reader = PdfFileReader(stream, strict=True)
        reader.root["/Pages"]
    except MemoryError:
        raise
    except Exception as exc:
        raise UnreadablePdf(f"pyHanko's strict reader refused the file: {exc}") from None
    if reader.encrypted:
        raise UnreadablePdf("the file is encrypted")
    return reader


async def _judge_all(
    reader: PdfFileReader,
    trust_roots: tuple[asn1_x509.Certificate, ...],
    moment: datetime,
    revocation: RevocationMode,
) -> list[SignatureReport]:
    try:
        found = sorted(signatures_in(reader), key=file_order)
    except MemoryError:
        raise
    except Exception as exc:  # e.g. a loop in the form field tree
        raise UnreadablePdf(f"the form fields cannot be read: {short_error(exc)}") from None
    judging = Judging(
        trust_roots=trust_roots,
        document_revinfo=document_revinfo(reader),
        moment=moment,
        revocation=revocation,
        timestamp_revisions=tuple(
            item.revision
            for item in found
            if item.kind == "document_timestamp" and item.revision is not None
        ),
    )
    return [await judge(item, judging) for item in found]


def _unsigned_fields(reader: PdfFileReader) -> tuple[str, ...]:
    try:
        return tuple(
            str(name) for name, value, _ in enumerate_sig_fields(reader, filled_status=False)
        )
    except MemoryError:
        raise
    except Exception:  # the fields were readable for the signatures; be safe all the same
        return ()


# --- revisions ------------------------------------------------------------------------------

_END_OF_REVISION = re.compile(rb"%%EOF")
_TRAILING = b"\r\n\t\f\x00 "
_TRAILING_MAX = 64
# A hostile file may hold any number of "%%EOF" strings; the revisions that matter (the
# original upload first) come early, and the whole file is always digested.
_MAX_CUTS = 256


def revision_digests(path: Path) -> tuple[str, ...]:
    """SHA-256 of every prefix of the file that may end a revision, in one pass: after each
    %%EOF and after each of the end-of-line or padding bytes that may follow it (an upload
    ending in "%%EOF", CR, LF, LF is a prefix of its signed versions byte for byte), and the whole
    file. Shortest first."""
    with path.open("rb") as stream:
        size = path.stat().st_size
        if size == 0:
            return ()
        with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
            cuts = sorted({*_cut_points(data, size)[:_MAX_CUTS], size})
            digest = hashlib.sha256()
            digests, done = [], 0
            view = memoryview(data)
            try:
                for cut in cuts:
                    digest.update(view[done:cut])
                    digests.append(digest.copy().hexdigest())
                    done = cut
            finally:
                view.release()
    return tuple(dict.fromkeys(digests))


def _cut_points(data: mmap.mmap, size: int) -> list[int]:
    cuts: list[int] = []
    for match in _END_OF_REVISION.finditer(data):
        if len(cuts) >= _MAX_CUTS:
            break
        position = match.end()
        cuts.append(position)
        while position < size and position - match.end() < _TRAILING_MAX:
            if data[position] not in _TRAILING:
                break
            position += 1
            cuts.append(position)
    return cuts


# --- the document as a whole --------------------------------------------------------------------


def _document_report(signatures: list[SignatureReport], moment: datetime) -> ValidationReport:
    modified = _modified_after_last(signatures)
    reasons: list[str] = []
    if not signatures:
        reasons.append(NO_SIGNATURE)
    failed = sum(1 for item in signatures if item.verdict == "failed")
    if failed:
        reasons.append(f"{failed} of {len(signatures)} signatures failed")
    if modified:
        reasons.append(MODIFIED_AFTER_LAST)
    return ValidationReport(
        verdict="failed" if reasons else "passed",
        reasons=tuple(reasons),
        signature_count=len(signatures),
        modified_after_last_signature=modified,
        validated_at=moment,
        signatures=tuple(signatures),
    )


def _modified_after_last(signatures: list[SignatureReport]) -> bool:
    """Bytes or revisions after what the last signature covers.

    A revision that only adds validation data (the DSS that B-LT appends after signing, pyHanko's
    LTA_UPDATES level) changes nothing anyone reads or signed, so it does not count.
    """
    if not signatures:
        return False
    last = signatures[-1]
    if last.coverage == SignatureCoverageLevel.ENTIRE_FILE.name:
        return False
    return not (
        last.coverage == SignatureCoverageLevel.ENTIRE_REVISION.name
        and last.modification_level == ModificationLevel.LTA_UPDATES.name
    )


__all__ = [
    "NO_SIGNATURE",
    "UnreadablePdf",
    "ValidationReport",
    "open_pdf",
    "revision_digests",
    "trust_roots_of",
    "validate_pdf",
]
