"""Who an advanced signature is made for, and the certificate it was made with.

An eIDAS advanced signature carries a certificate issued to the verified person, not the
platform seal. Two backends make one (app.signing.person dispatches on CACHET_ADVANCED_SIGNER):
one_shot.py issues a short-lived certificate from Cachet's own issuing CA for each signature
(`local_ca`), csc.py signs remotely at a trust service provider through the CSC API v2 (`csc`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
