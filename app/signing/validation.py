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
import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.generic import IndirectObject
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, ModificationLevel
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.general import find_unique_cms_attribute
from pyhanko.sign.validation import (
    DocumentTimestampStatus,
    EmbeddedPdfSignature,
    PdfSignatureStatus,
    SignatureCoverageLevel,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.status import SignatureStatus, TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

Verdict: TypeAlias = Literal["passed", "failed"]
SignatureKind: TypeAlias = Literal["signature", "document_timestamp"]

NO_SIGNATURE = "no signature"
MODIFIED_AFTER_LAST = "the document was modified after the last signature"
SIGNED_BYTES_CHANGED = "the signed bytes were changed"
MODIFIED_AFTER_THIS = "the document was modified after this signature"


class UnreadablePdf(Exception):
    """The file cannot be read as a PDF at all, so no signature can be judged."""


@dataclass(frozen=True)
class TimestampReport:
    present: bool
    valid: bool
    """The token is intact and its signature verifies; false when absent."""
    trusted: bool
    """The TSA's certificate chains to a trust root; false when absent."""
    time: datetime | None


NO_TIMESTAMP = TimestampReport(present=False, valid=False, trusted=False, time=None)


@dataclass(frozen=True)
class SignatureReport:
    field_name: str
    kind: SignatureKind
    revision: int | None
    """Index of the revision the signature was added in (0 = the original file)."""
    signer: str | None
    """The certificate subject's common name (the TSA's, for a document timestamp)."""
    signing_time: datetime | None
    signing_time_source: Literal["timestamp", "claimed"] | None
    timestamp: TimestampReport
    intact: bool
    valid: bool
    trusted: bool
    revoked: bool
    coverage: str | None
    """pyHanko's SignatureCoverageLevel name: ENTIRE_FILE, ENTIRE_REVISION, ..."""
    modification_level: str | None
    """pyHanko's ModificationLevel name for what later revisions changed: NONE, LTA_UPDATES,
    FORM_FILLING, ANNOTATIONS, OTHER."""
    docmdp_ok: bool | None
    verdict: Verdict
    reasons: tuple[str, ...]


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
    now: datetime | None = None,
) -> ValidationReport:
    """Validate every signature and document timestamp in the PDF at `path`, offline.

    trust_roots may be given as DER bytes, which is how they cross to a worker process: an
    asn1crypto certificate that has been parsed does not survive pickling intact.
    Raises UnreadablePdf when the file is not a readable, unencrypted PDF. A signature that
    cannot be read is reported as failed; it does not stop the others from being judged.
    """
    moment = now or datetime.now(UTC)
    roots = tuple(
        root if isinstance(root, asn1_x509.Certificate) else asn1_x509.Certificate.load(root)
        for root in trust_roots
    )
    with path.open("rb") as stream:
        reader = _open(stream)
        signatures = asyncio.run(_judge_all(reader, roots, moment))
    return _document_report(signatures, moment)


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


# --- one signature at a time -----------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    field_name: str
    revision: int | None
    embedded: EmbeddedPdfSignature | None
    kind: SignatureKind
    unreadable: str | None = None


async def _judge_all(
    reader: PdfFileReader, trust_roots: tuple[asn1_x509.Certificate, ...], moment: datetime
) -> list[SignatureReport]:
    try:
        found = sorted(_signatures_in(reader), key=_file_order)
    except MemoryError:
        raise
    except Exception as exc:  # e.g. a loop in the form field tree
        raise UnreadablePdf(f"the form fields cannot be read: {_short(exc)}") from None
    revinfo = _document_revinfo(reader)
    return [await _judge(item, trust_roots, revinfo, moment) for item in found]


def _file_order(found: _Found) -> int:
    return found.revision if found.revision is not None else 1 << 30


def _signatures_in(reader: PdfFileReader) -> Iterator[_Found]:
    """Every filled signature field, including those pyHanko's own listing skips or cannot
    parse: a signature that cannot be read must fail, not vanish from the report."""
    for name, sig_object, sig_field in enumerate_sig_fields(reader, filled_status=True):
        kind = _kind_of(sig_object)
        revision = _revision_of(reader, sig_field)
        try:
            embedded = EmbeddedPdfSignature(reader, sig_field, name)
        except MemoryError:
            raise
        except Exception as exc:
            yield _Found(str(name), revision, None, kind, unreadable=_short(exc))
            continue
        yield _Found(str(name), embedded.signed_revision, embedded, kind)


def _kind_of(sig_object: Any) -> SignatureKind:
    try:
        declared = sig_object.get_object().get("/Type")
    except Exception:
        return "signature"
    return "document_timestamp" if declared == "/DocTimeStamp" else "signature"


def _revision_of(reader: PdfFileReader, sig_field: Any) -> int | None:
    try:
        value = sig_field.get_object().raw_get("/V")
        if isinstance(value, IndirectObject):
            revision: int = reader.xrefs.get_last_change(value.reference)
            return revision
    except Exception:
        pass
    return None


@dataclass(frozen=True)
class _Revinfo:
    certs: tuple[asn1_x509.Certificate, ...] = ()
    crls: tuple[asn1_crl.CertificateList, ...] = ()
    ocsps: tuple[asn1_ocsp.OCSPResponse, ...] = ()


def _document_revinfo(reader: PdfFileReader) -> _Revinfo:
    """What the document security store (DSS, added for B-LT and B-LTA) holds."""
    try:
        dss = DocumentSecurityStore.read_dss(reader)
        return _Revinfo(
            certs=tuple(dss.load_certs()),
            crls=tuple(
                asn1_crl.CertificateList.load(ref.get_object().read_data(DecodePurpose.CRL))
                for ref in dss.crls
            ),
            ocsps=tuple(
                asn1_ocsp.OCSPResponse.load(ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE))
                for ref in dss.ocsps
            ),
        )
    except NoDSSFoundError:
        return _Revinfo()
    except MemoryError:
        raise
    except Exception:
        # A damaged DSS only loses the help of its revocation data; soft-fail copes without.
        return _Revinfo()


def _archived_revinfo(embedded: EmbeddedPdfSignature) -> _Revinfo:
    """Revocation data archived inside the signature's own CMS (Adobe's attribute)."""
    try:
        archive = find_unique_cms_attribute(
            embedded.signer_info["signed_attrs"], "adobe_revocation_info_archival"
        )
        return _Revinfo(crls=tuple(archive["crl"]), ocsps=tuple(archive["ocsp"]))
    except MemoryError:
        raise
    except Exception:
        return _Revinfo()


def _offline_context(
    trust_roots: tuple[asn1_x509.Certificate, ...],
    revinfo: Iterable[_Revinfo],
    moment: datetime,
) -> ValidationContext:
    """A new context per signature: pyHanko caches paths and revocation results inside it."""
    known = list(revinfo)
    return ValidationContext(
        trust_roots=list(trust_roots),
        other_certs=[cert for item in known for cert in item.certs],
        crls=[entry for item in known for entry in item.crls],
        ocsps=[entry for item in known for entry in item.ocsps],
        allow_fetching=False,
        revocation_mode="soft-fail",
        moment=moment,
    )


async def _judge(
    found: _Found,
    trust_roots: tuple[asn1_x509.Certificate, ...],
    document_revinfo: _Revinfo,
    moment: datetime,
) -> SignatureReport:
    embedded = found.embedded
    if embedded is None:
        return _unreadable(found, f"the signature could not be read: {found.unreadable}")
    context = _offline_context(trust_roots, (document_revinfo, _archived_revinfo(embedded)), moment)
    try:
        if found.kind == "document_timestamp":
            timestamp = await async_validate_pdf_timestamp(
                embedded, validation_context=context, diff_policy=DEFAULT_DIFF_POLICY
            )
            return _timestamp_report(found, embedded, timestamp)
        status = await async_validate_pdf_signature(
            embedded, signer_validation_context=context, diff_policy=DEFAULT_DIFF_POLICY
        )
        return _signature_report(found, status)
    except MemoryError:
        raise
    except Exception as exc:
        # A damaged or unsupported signature (bad CMS, unknown SubFilter, hybrid xrefs...) fails
        # on its own; the rest of the document is still judged.
        return _unreadable(found, f"the signature could not be validated: {_short(exc)}")


def _signature_report(found: _Found, status: PdfSignatureStatus) -> SignatureReport:
    timestamp = _token_report(status.timestamp_validity)
    signing_time, source = _signing_time(timestamp, status.signer_reported_dt)
    reasons = [
        *_certificate_reasons(status, "signature"),
        *_token_reasons("timestamp", status.timestamp_validity),
        *_token_reasons("content timestamp", status.content_timestamp_validity),
        *_seed_value_reasons(status),
        *_modification_reasons(status.coverage, status.modification_level, status.docmdp_ok),
    ]
    if not status.bottom_line and not reasons:
        reasons.append("pyHanko's overall judgement (bottom line) failed")
    return SignatureReport(
        field_name=found.field_name,
        kind="signature",
        revision=found.revision,
        signer=_subject_name(status.signing_cert),
        signing_time=signing_time,
        signing_time_source=source,
        timestamp=timestamp,
        intact=status.intact,
        valid=status.valid,
        trusted=status.trusted,
        revoked=status.revoked,
        coverage=_name(status.coverage),
        modification_level=_name(status.modification_level),
        docmdp_ok=status.docmdp_ok,
        verdict="passed" if status.bottom_line and not reasons else "failed",
        reasons=tuple(reasons),
    )


def _timestamp_report(
    found: _Found, embedded: EmbeddedPdfSignature, status: DocumentTimestampStatus
) -> SignatureReport:
    # pyHanko leaves docmdp_ok unset on document timestamps; its integrity summary has it, with
    # the same rule as for signatures (no OTHER change, nothing beyond a DocMDP level).
    docmdp_ok: bool | None = embedded.summarise_integrity_info()["docmdp_ok"]
    reasons = [
        *_certificate_reasons(status, "timestamp"),
        *_modification_reasons(status.coverage, status.modification_level, docmdp_ok),
    ]
    holds = status.intact and status.valid and status.trusted and docmdp_ok is True
    if not holds and not reasons:
        reasons.append("the document timestamp did not validate")
    return SignatureReport(
        field_name=found.field_name,
        kind="document_timestamp",
        revision=found.revision,
        signer=_subject_name(status.signing_cert),
        signing_time=status.timestamp,
        signing_time_source="timestamp",
        timestamp=_token_report(status),
        intact=status.intact,
        valid=status.valid,
        trusted=status.trusted,
        revoked=status.revoked,
        coverage=_name(status.coverage),
        modification_level=_name(status.modification_level),
        docmdp_ok=docmdp_ok,
        verdict="passed" if holds and not reasons else "failed",
        reasons=tuple(reasons),
    )


def _unreadable(found: _Found, reason: str) -> SignatureReport:
    return SignatureReport(
        field_name=found.field_name,
        kind=found.kind,
        revision=found.revision,
        signer=None,
        signing_time=None,
        signing_time_source=None,
        timestamp=NO_TIMESTAMP,
        intact=False,
        valid=False,
        trusted=False,
        revoked=False,
        coverage=None,
        modification_level=None,
        docmdp_ok=None,
        verdict="failed",
        reasons=(reason,),
    )


def _signing_time(
    timestamp: TimestampReport, claimed: datetime | None
) -> tuple[datetime | None, Literal["timestamp", "claimed"] | None]:
    """A TSA's time when there is one; the signer's own word otherwise."""
    if timestamp.present and timestamp.time is not None:
        return timestamp.time, "timestamp"
    if claimed is not None:
        return claimed, "claimed"
    return None, None


def _token_report(token: TimestampSignatureStatus | None) -> TimestampReport:
    if token is None:
        return NO_TIMESTAMP
    return TimestampReport(
        present=True,
        valid=bool(token.intact and token.valid),
        trusted=bool(token.trusted),
        time=token.timestamp,
    )


# --- reasons, in words a person reading the report understands --------------------------------


def _certificate_reasons(
    status: SignatureStatus, what: Literal["signature", "timestamp"]
) -> list[str]:
    """The first thing wrong, from the bytes to the trust: later checks mean little after it."""
    prefix = "" if what == "signature" else "timestamp "
    if not status.intact:
        return [SIGNED_BYTES_CHANGED]
    if not status.valid:
        return [f"the {what} value does not verify against its certificate"]
    if status.revoked:
        return [f"{prefix}certificate revoked"]
    if not status.trusted:
        return [f"{prefix}certificate not trusted{_trust_detail(status)}"]
    return []


def _trust_detail(status: SignatureStatus) -> str:
    problem = status.trust_problem_indic
    if not isinstance(problem, enum.Enum):  # the AdES sub-indications are enums
        return ""
    readable = {
        "NO_CERTIFICATE_CHAIN_FOUND": "no chain to a trusted root",
        "OUT_OF_BOUNDS_NO_POE": "expired or not yet valid",
        "EXPIRED": "expired",
        "NOT_YET_VALID": "not yet valid",
        "CHAIN_CONSTRAINTS_FAILURE": "the certificate chain was rejected",
        "SIG_CONSTRAINTS_FAILURE": "the certificate's key usage does not allow signing",
    }.get(problem.name, problem.name.lower().replace("_", " "))
    return f" ({readable})"


def _token_reasons(what: str, token: TimestampSignatureStatus | None) -> list[str]:
    if token is None:
        return []
    if not (token.intact and token.valid):
        return [f"{what} invalid"]
    if not token.trusted:
        return [f"{what} not trusted{_trust_detail(token)}"]
    return []


def _seed_value_reasons(status: PdfSignatureStatus) -> list[str]:
    error = status.seed_value_constraint_error
    if error is None:
        return []
    return [f"the signature breaks its field's seed value constraints: {_short(error)}"]


def _modification_reasons(
    coverage: SignatureCoverageLevel | None,
    level: ModificationLevel | None,
    docmdp_ok: bool | None,
) -> list[str]:
    if coverage is None or coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        return ["the signature does not cover its whole revision"]
    if docmdp_ok is not False:
        return []
    if level is ModificationLevel.OTHER:
        return [MODIFIED_AFTER_THIS]
    return [
        f"the document was changed after this signature in a way its permissions forbid "
        f"({_name(level)})"
    ]


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


def _subject_name(cert: asn1_x509.Certificate | None) -> str | None:
    if cert is None:
        return None
    try:
        common_name = cert.subject.native.get("common_name")
        if isinstance(common_name, list):  # a multi-valued CN
            common_name = common_name[0] if common_name else None
        if isinstance(common_name, str) and common_name:
            return common_name
        friendly: str = cert.subject.human_friendly
        return friendly
    except Exception:
        return None


def _name(value: enum.Enum | None) -> str | None:
    return None if value is None else value.name


def _short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = [
    "NO_SIGNATURE",
    "SignatureReport",
    "TimestampReport",
    "UnreadablePdf",
    "ValidationReport",
    "validate_pdf",
]
