"""Who an advanced signature is made for, and the certificate it was made with.

An eIDAS advanced signature carries a certificate issued to the verified person, not the
platform seal. Two backends make one (app.workflow.advanced_signing picks by
CACHET_ADVANCED_SIGNER): one_shot.py issues a short-lived certificate from Cachet's own issuing
CA for each signature (`local_ca`); remote.py signs with a key held at a trust service provider
(`csc`: app.providers.csc speaks the CSC API v2, and only hashes leave the service).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class VerifiedPerson:
    given_name: str  # every given name, as the identity check read them
    surname: str
    email: str | None
    country: str | None  # ISO 3166-1 alpha-2 when known (the document's issuing country)

    @property
    def common_name(self) -> str:
        return f"{self.given_name} {self.surname}"


@dataclass(frozen=True)
class PersonCertificate:
    """What the evidence keeps of the certificate a signature was made with."""

    subject: str  # RFC 4514
    issuer: str
    serial_number: str  # hex
    not_before: datetime
    not_after: datetime
    sha256: str  # of the DER certificate, hex
    backend: str  # "local_ca" | "csc"


# RFC 4514 spells only a few attribute types by name (CN, C, O, ...); these by their RFC 4519
# names rather than dotted numbers, whichever backend issued the certificate.
_RFC4519_NAMES = {
    NameOID.GIVEN_NAME: "givenName",
    NameOID.SURNAME: "sn",
    NameOID.SERIAL_NUMBER: "serialNumber",
}


def person_certificate(certificate_der: bytes, *, backend: str) -> PersonCertificate:
    """What the evidence keeps of the certificate a signature was made with."""
    parsed = x509.load_der_x509_certificate(certificate_der)
    return PersonCertificate(
        subject=parsed.subject.rfc4514_string(_RFC4519_NAMES),
        issuer=parsed.issuer.rfc4514_string(_RFC4519_NAMES),
        serial_number=f"{parsed.serial_number:x}",
        not_before=parsed.not_valid_before_utc,
        not_after=parsed.not_valid_after_utc,
        sha256=hashlib.sha256(certificate_der).hexdigest(),
        backend=backend,
    )
