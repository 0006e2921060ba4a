"""Validate every signature of a PDF offline and report one verdict per signature and overall.

Runs where a hostile file can do no harm to the service: the API calls validate_pdf in the PDF
gate's resource-capped worker processes. The function is synchronous and starts its own event
loop (pyHanko's validation is async inside), so it must not be called from a running loop.

Choices, and why:
- Offline: the validation context never fetches. It knows the given trust roots plus what the
  file carries (the DSS's certificates, CRLs and OCSP responses, and revocation data archived
  inside each CMS). A service that fetched URLs named by an uploaded file would let anyone make
  it call any address.
- Revocation soft-fail (pyhanko-certvalidator's default mode): for a certificate that names a
  CRL or OCSP service, as real ones do, the revocation data embedded in the file is checked and
  a revoked certificate fails; data that is simply absent is not held against the signature.
  That is what lets a B-T signature (no embedded revocation data, by definition) pass when its
  chain is trusted. "hard-fail" would fail every B-T signature of an issuer that publishes a
  CRL or OCSP responder, since offline there is nothing to check against.
- Validation time is now: a signature whose certificate has since expired reports
  "certificate not trusted". Long-term (B-LTA) validation in the past is not done here.
- Verdicts gate on pyHanko's bottom_line (for a document timestamp, its equivalent: intact,
  valid, trusted and no disallowed change after it), never on `intact` alone: a page drawn
  in a later revision leaves every signature intact.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import SignatureCoverageLevel

from app.signing.validation_reasons import short_error
from app.signing.validation_signatures import (
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


def validate_pdf(
    path: Path,
    trust_roots: Sequence[asn1_x509.Certificate | bytes],
    *,
    now: datetime,
) -> ValidationReport:
    """Validate every signature and document timestamp in the PDF at `path`, offline, as at
    `now` (the service clock).

    trust_roots may be given as DER bytes, which is how they cross to a worker process: an
    asn1crypto certificate that has been parsed does not survive pickling intact.
    Raises UnreadablePdf when the file is not a readable, unencrypted PDF. A signature that
    cannot be read is reported as failed; it does not stop the others from being judged.
    """
    roots = tuple(
        root if isinstance(root, asn1_x509.Certificate) else asn1_x509.Certificate.load(root)
        for root in trust_roots
    )
    with path.open("rb") as stream:
        reader = _open(stream)
        signatures = asyncio.run(_judge_all(reader, roots, now))
    return _document_report(signatures, now)


def _open(stream: Any) -> PdfFileReader:
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
    reader: PdfFileReader, trust_roots: tuple[asn1_x509.Certificate, ...], moment: datetime
) -> list[SignatureReport]:
    try:
        found = sorted(signatures_in(reader), key=file_order)
    except MemoryError:
        raise
    except Exception as exc:  # e.g. a loop in the form field tree
        raise UnreadablePdf(f"the form fields cannot be read: {short_error(exc)}") from None
    revinfo = document_revinfo(reader)
    return [await judge(item, trust_roots, revinfo, moment) for item in found]


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
    "validate_pdf",
]
