"""An eIDAS advanced signature with a one-shot certificate (CACHET_ADVANCED_SIGNER=local_ca).

For each signature a fresh key pair is generated in the signing worker, Cachet's issuing CA
(app.signing.issuing, loaded with the seal) certifies it in the verified person's name for a
short while, the field is signed with it (B-T: the seal's TSA timestamps it), and the key is
dropped. The key is never written anywhere, never serialised, never pickled: it lives in
OpenSSL's memory, inside a cryptography key object only this module holds, and OpenSSL clears
a private key's memory when it frees it -- which happens when the last reference goes, right
after the signature. Python itself cannot zero memory, so that is as far as "destroyed" goes.

EC P-256, not RSA: generating the key pair and issuing the certificate takes about a millisecond
(an RSA-2048 key pair alone takes tens to hundreds of milliseconds, at random), its signature is
small, and pyHanko and NSS (pdfsig) validate ECDSA P-256 with SHA-256 like RSA.

The workflow adds the B-LT validation data right after (pades.add_validation_data, hard-fail):
the seal trusts the issuing CA's root and knows its CRL, which the certificate names.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.sign.signers import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from app.clock import system_now
from app.config import Settings
from app.signing import pades
from app.signing.issuing import IssuingCa, IssuingCaConfigError
from app.signing.keys import Seal
from app.signing.pades import SealLike, SignatureOrder
from app.signing.signer_identity import PersonCertificate, VerifiedPerson, person_certificate

BACKEND = "local_ca"
CURVE = ec.SECP256R1()


def sign_with_one_shot_certificate(
    source: Path,
    target: Path,
    *,
    order: SignatureOrder,
    person: VerifiedPerson,
    settings: Settings,
    seal: SealLike,
) -> PersonCertificate:
    """Fill `order.field_name` with a PAdES B-T signature whose certificate, issued now by
    Cachet's issuing CA, names `person`; the key is gone when this returns. Raises what
    pades.sign_field_as raises (FieldMissing, FieldAlreadySigned, Unavailable for the TSA),
    and IssuingCaConfigError when the seal came without the issuing CA."""
    authority = _issuing_ca(seal, settings)
    signer = _one_shot_signer(authority, person)
    certificate = signer.signing_cert
    try:
        pades.sign_field_as(source, target, order, signer, seal)
    finally:
        signer.forget_key()
    return person_certificate(certificate.dump(), backend=BACKEND)


def _issuing_ca(seal: SealLike, settings: Settings) -> IssuingCa:
    if isinstance(seal, Seal) and seal.issuing_ca is not None:
        return seal.issuing_ca
    raise IssuingCaConfigError(
        f"CACHET_ADVANCED_SIGNER is {settings.advanced_signer!r}: one-shot certificates need "
        "the seal loaded with Cachet's issuing CA (load_seal with local_ca)"
    )


def _one_shot_signer(authority: IssuingCa, person: VerifiedPerson) -> OneShotSigner:
    key = _fresh_key()
    certificate = authority.issue(person, _public_key_info(key), now=system_now())
    return OneShotSigner(certificate, key, chain=(authority.certificate, *authority.chain))


def _fresh_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(CURVE)


def _public_key_info(key: ec.EllipticCurvePrivateKey) -> asn1_keys.PublicKeyInfo:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return asn1_keys.PublicKeyInfo.load(der)


class OneShotSigner(Signer):
    """A pyHanko signer over a key that exists for one signature.

    Unlike SimpleSigner it keeps no DER copy of the private key (an immutable bytes object
    Python would leave in memory): only the cryptography key object, which forget_key drops."""

    def __init__(
        self,
        certificate: asn1_x509.Certificate,
        key: ec.EllipticCurvePrivateKey,
        chain: Iterable[asn1_x509.Certificate],
    ) -> None:
        super().__init__(
            signing_cert=certificate,
            cert_registry=SimpleCertificateStore.from_certs(list(chain)),  # type: ignore[no-untyped-call]
        )
        self._key: ec.EllipticCurvePrivateKey | None = key

    @property
    def signing_cert(self) -> asn1_x509.Certificate:
        certificate: asn1_x509.Certificate = self._signing_cert
        return certificate

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if self._key is None:
            raise RuntimeError("the one-shot key was used for its signature and dropped")
        return self._key.sign(data, ec.ECDSA(get_pyca_cryptography_hash(digest_algorithm)))

    def forget_key(self) -> None:
        self._key = None
