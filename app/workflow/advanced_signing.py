"""eIDAS advanced: each document signed in the verified person's own name, with the backend
CACHET_ADVANCED_SIGNER names. `sign_as_person` runs in a signing worker (like every pyHanko
operation, through versions.signed_version); the identity it signs for is the one the identity
check approved, never the names the sender typed."""

from __future__ import annotations

from pathlib import Path

from app.config import Settings
from app.envelopes.models import Recipient
from app.envelopes.people import recipient_email
from app.providers.csc import CscUnavailable, open_csc_credential
from app.signing.failures import Unavailable
from app.signing.one_shot import sign_with_one_shot_certificate
from app.signing.pades import SealLike, SignatureOrder
from app.signing.remote import sign_with_remote_key
from app.signing.signer_identity import PersonCertificate, VerifiedPerson
from app.workflow.models import IdentityVerification


def verified_person(row: IdentityVerification, recipient: Recipient) -> VerifiedPerson:
    assert row.verified_first_name and row.verified_last_name  # approved rows carry them
    return VerifiedPerson(
        given_name=row.verified_first_name,
        surname=row.verified_last_name,
        email=recipient_email(recipient),
        country=_alpha2(row.issuing_country),
    )


def _alpha2(country: str | None) -> str | None:
    """X.520 countryName is two letters; a vendor's three-letter code is left out."""
    return country.upper() if country and len(country) == 2 and country.isalpha() else None


def sign_as_person(
    source: Path,
    target: Path,
    *,
    order: SignatureOrder,
    person: VerifiedPerson,
    settings: Settings,
    seal: SealLike,
) -> PersonCertificate:
    """Fills the signer's field with a PAdES B-T signature whose certificate names `person`.
    A trust service that does not answer is `Unavailable` (waited for like a TSA); one that
    refuses fails the signature after the job's attempts."""
    if settings.advanced_signer == "csc":
        return _sign_remotely(
            source, target, order=order, person=person, settings=settings, seal=seal
        )
    return sign_with_one_shot_certificate(
        source, target, order=order, person=person, settings=settings, seal=seal
    )


def _sign_remotely(
    source: Path,
    target: Path,
    *,
    order: SignatureOrder,
    person: VerifiedPerson,
    settings: Settings,
    seal: SealLike,
) -> PersonCertificate:
    """CSC v2: only the hash of the signed attributes leaves; the service assembles the CMS."""
    try:
        with open_csc_credential(
            settings, person.given_name, person.surname, person.email
        ) as credential:
            return sign_with_remote_key(source, target, order=order, key=credential, seal=seal)
    except CscUnavailable as error:
        raise Unavailable(f"trust service (CSC): {error}") from error
