"""Signing a field in a verified person's own name (eIDAS advanced), with the backend the
settings name: `local_ca` (one_shot.py) or `csc` (csc.py). Runs in a signing worker like every
pyHanko operation; the seal still provides the timestamp authority and the trust settings."""

from __future__ import annotations

from pathlib import Path

from app.config import Settings
from app.signing.csc import sign_with_csc
from app.signing.one_shot import sign_with_one_shot_certificate
from app.signing.pades import SealLike, SignatureOrder
from app.signing.signer_identity import PersonCertificate, VerifiedPerson


def sign_field_as_person(
    source: Path,
    target: Path,
    *,
    order: SignatureOrder,
    person: VerifiedPerson,
    settings: Settings,
    seal: SealLike,
) -> PersonCertificate:
    """Fills `order.field_name` with a PAdES B-T signature whose certificate names `person`."""
    if settings.advanced_signer == "csc":
        return sign_with_csc(
            source, target, order=order, person=person, settings=settings, seal=seal
        )
    return sign_with_one_shot_certificate(
        source, target, order=order, person=person, settings=settings, seal=seal
    )
