"""Reasons a signature failed, worded for people, so the judging code holds only the checks."""

from __future__ import annotations

import enum
from typing import Literal

from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko.sign.validation.status import SignatureStatus, TimestampSignatureStatus

SIGNED_BYTES_CHANGED = "the signed bytes were changed"
MODIFIED_AFTER_THIS = "the document was modified after this signature"


def certificate_reasons(
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


def token_reasons(what: str, token: TimestampSignatureStatus | None) -> list[str]:
    if token is None:
        return []
    if not (token.intact and token.valid):
        return [f"{what} invalid"]
    if not token.trusted:
        return [f"{what} not trusted{_trust_detail(token)}"]
    return []


def seed_value_reasons(status: PdfSignatureStatus) -> list[str]:
    error = status.seed_value_constraint_error
    if error is None:
        return []
    return [f"the signature breaks its field's seed value constraints: {short_error(error)}"]


def modification_reasons(
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
        f"({enum_name(level)})"
    ]


def enum_name(value: enum.Enum | None) -> str | None:
    return None if value is None else value.name


def short_error(exc: BaseException, limit: int = 200) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
