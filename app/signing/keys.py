"""The platform seal: signing key, certificate chain, timestamper and trust roots.

load_seal(settings) reads the one key source the settings configure (PEM files, PKCS#12,
PKCS#11) or, with none, a development PKI under data_dir/pki. Keys never enter the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from pyhanko.keys.internal import translate_pyca_cryptography_key_to_asn1
from pyhanko.sign.signers import Signer, SimpleSigner
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash, process_pss_params


def _no_crls() -> tuple[asn1_crl.CertificateList, ...]:
    return ()


@dataclass(frozen=True)
class Seal:
    """What signs for the platform. Safe to share between threads: nothing in it is mutated."""

    signer: Signer
    timestamper: TimeStamper
    trust_roots: tuple[asn1_x509.Certificate, ...]
    source: str
    # Revocation lists known without the network (the development root's CRL, kept fresh).
    known_crls: Callable[[], tuple[asn1_crl.CertificateList, ...]] = field(default=_no_crls)
    allow_fetching: bool = True

    def validation_context(self) -> ValidationContext:
        """A new context per call: pyHanko caches fetched revocation data inside it."""
        return ValidationContext(
            trust_roots=list(self.trust_roots),
            allow_fetching=self.allow_fetching,
            crls=list(self.known_crls()),
        )


class CachedKeySigner(SimpleSigner):
    """A SimpleSigner that parses its private key once.

    SimpleSigner.sign_raw re-parses the DER key on every signature (~29 ms for RSA-2048);
    this keeps the parsed cryptography key and signs with it directly.
    """

    def __init__(
        self,
        signing_cert: asn1_x509.Certificate,
        private_key: PrivateKeyTypes,
        chain: Iterable[asn1_x509.Certificate] = (),
    ) -> None:
        super().__init__(
            signing_cert=signing_cert,
            signing_key=translate_pyca_cryptography_key_to_asn1(private_key),
            cert_registry=SimpleCertificateStore.from_certs(list(chain)),  # type: ignore[no-untyped-call]
        )
        self._private_key = private_key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism_spec = self.get_signature_mechanism_for_digest(digest_algorithm)
        try:
            mechanism = mechanism_spec.signature_algo
        except ValueError:
            mechanism = mechanism_spec["algorithm"].native
        key = self._private_key
        if mechanism == "rsassa_pkcs1v15" and isinstance(key, RSAPrivateKey):
            return key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        if mechanism == "rsassa_pss" and isinstance(key, RSAPrivateKey):
            padding, hash_algo = process_pss_params(mechanism_spec["parameters"])
            return key.sign(data, padding, hash_algo)
        if mechanism == "ecdsa" and isinstance(key, EllipticCurvePrivateKey):
            return key.sign(data, ECDSA(get_pyca_cryptography_hash(digest_algorithm)))
        signature: bytes = super().sign_raw(data, digest_algorithm)
        return signature
