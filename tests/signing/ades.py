"""pyHanko's AdES validation (ETSI EN 319 102-1) at its strictest, as a third opinion on what the
service signs: revocation data required for every certificate below a trust root, hard-fail,
and nothing fetched -- whatever a signature needs must be in the file.

A B-LTA signature passes (AdESPassed.OK); one whose revocation data was not archived comes out
INDETERMINATE, which bottom_line and pdfsig (both happy with a live responder) do not show.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.policy_decl import (
    CertificateFetchingRule,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator.authority import CertTrustAnchor
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import (
    REQUIRE_REVINFO,
    CertRevTrustPolicy,
)
from pyhanko_certvalidator.registry import SimpleTrustManager


@dataclass(frozen=True)
class AdesVerdict:
    field: str
    indication: str
    """PASSED, INDETERMINATE or FAILED."""
    subindication: str
    failure: str | None

    @property
    def passed(self) -> bool:
        return self.indication == "PASSED"


def strict_spec(trust_roots: Sequence[asn1_x509.Certificate]) -> PdfSignatureValidationSpec:
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(
            trust_roots=[CertTrustAnchor(root) for root in trust_roots]
        ),
        revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO),
    )
    return PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=policy,
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY,
                certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH,
            ),
        )
    )


async def strict_ades_verdicts(
    pdf: bytes | Path, trust_roots: Sequence[asn1_x509.Certificate]
) -> list[AdesVerdict]:
    """ades_lta_validation of every signature (document timestamps are judged as part of it:
    they are the evidence record), offline, revocation data required."""
    data = await asyncio.to_thread(pdf.read_bytes) if isinstance(pdf, Path) else pdf
    reader = PdfFileReader(io.BytesIO(data))
    spec = strict_spec(trust_roots)
    verdicts = []
    for embedded in reader.embedded_regular_signatures:
        result = await ades_lta_validation(embedded, spec)
        subindication = result.ades_subindic
        verdicts.append(
            AdesVerdict(
                field=str(embedded.field_name),
                indication=subindication.status.name,
                subindication=str(getattr(subindication, "name", subindication)),
                failure=result.failure_msg,
            )
        )
    return verdicts


async def offline_hard_fail_verdicts(
    pdf: bytes, trust_roots: Sequence[asn1_x509.Certificate]
) -> list[bool]:
    """pyHanko's signature validation with only what the file's DSS holds (nothing fetched)
    and revocation checking hard-fail: what a B-LT signature passes before any archive
    timestamp exists, and a B-T one does not."""
    reader = PdfFileReader(io.BytesIO(pdf))
    dss = DocumentSecurityStore.read_dss(reader)
    verdicts = []
    for embedded in reader.embedded_regular_signatures:
        context = dss.as_validation_context(
            {
                "trust_roots": list(trust_roots),
                "allow_fetching": False,
                "revocation_mode": "hard-fail",
            }
        )
        status = await async_validate_pdf_signature(embedded, context)
        verdicts.append(status.bottom_line)
    return verdicts
