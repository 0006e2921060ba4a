"""Each signature judged on its own (found, revocation data, report); validation.py sums them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeAlias

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.generic import IndirectObject
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.general import find_unique_cms_attribute
from pyhanko.sign.validation import (
    DocumentTimestampStatus,
    EmbeddedPdfSignature,
    PdfSignatureStatus,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

from app.signing.ltv import uncovered_certificates
from app.signing.validation_reasons import (
    certificate_reasons,
    enum_name,
    modification_reasons,
    seed_value_reasons,
    short_error,
    token_reasons,
)

Verdict: TypeAlias = Literal["passed", "failed"]
SignatureKind: TypeAlias = Literal["signature", "document_timestamp"]
PadesLevel: TypeAlias = Literal["B-B", "B-T", "B-LT", "B-LTA"]
RevocationMode: TypeAlias = Literal["soft", "hard"]
"""soft: revocation data that is absent is not held against a certificate, data that says
revoked is. hard: every certificate below a trust root needs revocation data in the file."""


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
    revocation_data_embedded: bool = False
    """The file carries revocation data (DSS, or archived in the CMS) for every certificate below
    the trust root of the signer's chain and of its timestamp's."""
    pades_level: PadesLevel | None = None
    """For a signature: B-B (no timestamp), B-T, B-LT (and validation data), B-LTA (and a
    document timestamp after it). None for a document timestamp or an unreadable signature."""


@dataclass(frozen=True)
class _Found:
    field_name: str
    revision: int | None
    embedded: EmbeddedPdfSignature | None
    kind: SignatureKind
    unreadable: str | None = None


def file_order(found: _Found) -> int:
    return found.revision if found.revision is not None else 1 << 30


def signatures_in(reader: PdfFileReader) -> Iterator[_Found]:
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
            yield _Found(str(name), revision, None, kind, unreadable=short_error(exc))
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


def document_revinfo(reader: PdfFileReader) -> _Revinfo:
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


@dataclass(frozen=True)
class Judging:
    """What every signature of one document is judged against."""

    trust_roots: tuple[asn1_x509.Certificate, ...]
    document_revinfo: _Revinfo
    moment: datetime
    revocation: RevocationMode
    timestamp_revisions: tuple[int, ...]
    """Revisions that added a document timestamp: a signature before one of them is B-LTA."""


def _offline_context(judging: Judging, revinfo: Iterable[_Revinfo]) -> ValidationContext:
    """A new context per signature: pyHanko caches paths and revocation results inside it."""
    known = list(revinfo)
    return ValidationContext(
        trust_roots=list(judging.trust_roots),
        other_certs=[cert for item in known for cert in item.certs],
        crls=[entry for item in known for entry in item.crls],
        ocsps=[entry for item in known for entry in item.ocsps],
        allow_fetching=False,
        revocation_mode="require" if judging.revocation == "hard" else "soft-fail",
        moment=judging.moment,
    )


async def judge(found: _Found, judging: Judging) -> SignatureReport:
    embedded = found.embedded
    if embedded is None:
        return _unreadable(found, f"the signature could not be read: {found.unreadable}")
    revinfo = (judging.document_revinfo, _archived_revinfo(embedded))
    context = _offline_context(judging, revinfo)
    try:
        if found.kind == "document_timestamp":
            timestamp = await async_validate_pdf_timestamp(
                embedded, validation_context=context, diff_policy=DEFAULT_DIFF_POLICY
            )
            return _timestamp_report(found, embedded, timestamp)
        status = await async_validate_pdf_signature(
            embedded, signer_validation_context=context, diff_policy=DEFAULT_DIFF_POLICY
        )
        report = _signature_report(found, status)
        embedded_data = _revocation_embedded(status, revinfo)
        return dataclasses.replace(
            report,
            revocation_data_embedded=embedded_data,
            pades_level=_pades_level(found, status, embedded_data, judging.timestamp_revisions),
        )
    except MemoryError:
        raise
    except Exception as exc:
        # A damaged or unsupported signature (bad CMS, unknown SubFilter, hybrid xrefs...) fails
        # on its own; the rest of the document is still judged.
        return _unreadable(found, f"the signature could not be validated: {short_error(exc)}")


def _revocation_embedded(status: PdfSignatureStatus, revinfo: Iterable[_Revinfo]) -> bool:
    """Revocation data in the file for every certificate below the root of the signer's path
    and of its timestamp's: judged on the paths validation found (none: not embedded)."""
    token = status.timestamp_validity
    paths = [status.validation_path, token.validation_path if token is not None else None]
    known = list(revinfo)
    if status.validation_path is None or (token is not None and token.validation_path is None):
        return False
    found_paths = [path for path in paths if path is not None]
    return not uncovered_certificates(
        found_paths,
        [entry for item in known for entry in item.ocsps],
        [entry for item in known for entry in item.crls],
    )


def _pades_level(
    found: _Found,
    status: PdfSignatureStatus,
    revocation_embedded: bool,
    timestamp_revisions: tuple[int, ...],
) -> PadesLevel:
    if status.timestamp_validity is None:
        return "B-B"
    if not revocation_embedded:
        return "B-T"
    after = found.revision is not None and any(r > found.revision for r in timestamp_revisions)
    return "B-LTA" if after else "B-LT"


def _signature_report(found: _Found, status: PdfSignatureStatus) -> SignatureReport:
    timestamp = _token_report(status.timestamp_validity)
    signing_time, source = _signing_time(timestamp, status.signer_reported_dt)
    reasons = [
        *certificate_reasons(status, "signature"),
        *token_reasons("timestamp", status.timestamp_validity),
        *token_reasons("content timestamp", status.content_timestamp_validity),
        *seed_value_reasons(status),
        *modification_reasons(status.coverage, status.modification_level, status.docmdp_ok),
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
        coverage=enum_name(status.coverage),
        modification_level=enum_name(status.modification_level),
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
        *certificate_reasons(status, "timestamp"),
        *modification_reasons(status.coverage, status.modification_level, docmdp_ok),
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
        coverage=enum_name(status.coverage),
        modification_level=enum_name(status.modification_level),
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
