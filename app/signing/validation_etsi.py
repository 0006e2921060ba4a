"""The ETSI TS 119 102-2 validation report (XML) of a PDF's signatures.

Each signature goes through pyHanko's AdES validation (ETSI EN 319 102-1), long-term process
(LTA: the document timestamps are its evidence record), offline like validation.py: the given
trust roots and what the file carries, nothing fetched; revocation data optional (soft) or
required (hard). The XML is pyHanko's own report format, one SignatureValidationReport per
signature with the validation objects they used.

Like validate_pdf, it runs in the PDF gate's worker processes and starts its own event loop.
A signature pyHanko cannot even parse has no report here (the JSON report says why it failed).
pyHanko builds single-signature reports only; the per-signature builder it uses for them is
internal to it (pyhanko.sign.validation.report.tools, pinned by pyHanko's version range).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from pyhanko.generated.etsi import ts_11910202
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.ades import (
    AdESLTAValidationResult,
    ades_lta_validation,
    derive_validation_object_identifier,
)
from pyhanko.sign.validation.policy_decl import (
    CertificateFetchingRule,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko.sign.validation.report.tools import (
    NAMESPACES,
    _generate_report,
    _package_validation_object,
)
from pyhanko_certvalidator.authority import CertTrustAnchor
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import (
    REQUIRE_REVINFO,
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
)
from pyhanko_certvalidator.registry import SimpleTrustManager
from xsdata.formats.dataclass.serializers import XmlSerializer
from xsdata.formats.dataclass.serializers.config import SerializerConfig

from app.signing.validation import open_pdf, trust_roots_of
from app.signing.validation_signatures import RevocationMode

__all__ = ["etsi_report"]


def etsi_report(
    path: Path,
    trust_roots: Sequence[asn1_x509.Certificate | bytes],
    *,
    now: datetime,
    revocation: RevocationMode = "soft",
) -> str:
    """The XML report of every signature in the PDF at `path`, as at `now`. Raises
    validation.UnreadablePdf when the file is not a readable PDF."""
    roots = trust_roots_of(trust_roots)
    with path.open("rb") as stream:
        reader = open_pdf(stream)
        return asyncio.run(_report(reader, _spec(roots, revocation), now))


def _spec(
    roots: Sequence[asn1_x509.Certificate], revocation: RevocationMode
) -> PdfSignatureValidationSpec:
    checking = (
        REQUIRE_REVINFO
        if revocation == "hard"
        else RevocationCheckingPolicy.from_legacy("soft-fail")
    )
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=[CertTrustAnchor(r) for r in roots]),
        revinfo_policy=CertRevTrustPolicy(checking),
    )
    offline = RevocationInfoGatheringSpec(
        online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY,
        certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH,
    )
    return PdfSignatureValidationSpec(
        SignatureValidationSpec(cert_validation_policy=policy, revinfo_gathering_policy=offline)
    )


async def _report(reader: PdfFileReader, spec: PdfSignatureValidationSpec, now: datetime) -> str:
    timing = ValidationTimingInfo(
        validation_time=now, best_signature_time=now, point_in_time_validation=False
    )
    reports = []
    objects: dict[str | None, ts_11910202.ValidationObjectType] = {}
    for embedded in reader.embedded_regular_signatures:
        try:
            result: AdESLTAValidationResult = await ades_lta_validation(
                embedded, spec, timing_info=timing
            )
        except MemoryError:
            raise
        except Exception:
            continue  # unparseable: no AdES result to report on
        reports.append(_generate_report(embedded, result))
        for item in result.validation_objects:
            objects.setdefault(
                derive_validation_object_identifier(item), _package_validation_object(item)
            )
    report = ts_11910202.ValidationReport(
        signature_validation_report=tuple(reports),
        signature_validation_objects=ts_11910202.ValidationObjectListType(tuple(objects.values())),
    )
    serializer = XmlSerializer(config=SerializerConfig(indent="  "))
    xml: str = serializer.render(report, ns_map=NAMESPACES)
    return xml
