"""Placeholder: being built for issue 12 (eIDAS advanced)."""

from __future__ import annotations

from pathlib import Path

from app.config import Settings
from app.signing.pades import SealLike, SignatureOrder
from app.signing.signer_identity import PersonCertificate, VerifiedPerson


def sign_with_one_shot_certificate(
    source: Path,
    target: Path,
    *,
    order: SignatureOrder,
    person: VerifiedPerson,
    settings: Settings,
    seal: SealLike,
) -> PersonCertificate:
    raise NotImplementedError("one_shot signing is not built yet (issue 12)")
