"""Signing a field with a key held elsewhere (a trust service provider's, eIDAS advanced): pyHanko
builds the CMS here and hands the remote key only the digest of its signed attributes.

The remote key is anything shaped like RemoteKey; app.providers.csc.CscCredential is one (this
package does not import it: pyHanko and HTTP live in separate layers). In a signing worker:

    with open_csc_credential(settings, person.given_name, person.surname, person.email) as key:
        certificate = sign_with_remote_key(source, target, order=order, key=key, seal=seal)

One remote signature per PDF signature: pades.sign_field_as reserves the /Contents room from
the certificates (reserved_contents_size), so pyHanko makes no dry-run signature to measure;
and a dry run, should one happen, is answered here with placeholder bytes, never remotely.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from asn1crypto import algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from pyhanko.sign.signers import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from app.signing.pades import SealLike, SignatureOrder, sign_field_as
from app.signing.signer_identity import PersonCertificate, person_certificate

__all__ = [
    "RemoteKey",
    "RemoteKeyUnusable",
    "RemoteSigner",
    "person_certificate",
    "sign_with_remote_key",
]

BACKEND = "csc"


class RemoteKey(Protocol):
    """A key that signs digests remotely, with its certificate."""

    @property
    def certificate_der(self) -> bytes: ...

    @property
    def chain_der(self) -> Sequence[bytes]:
        """The certificates above the signer's (intermediates, root)."""
        ...

    def sign_digests(self, digests: list[bytes], hash_oid: str) -> list[bytes]:
        """Raw signature values of the digests, in order (PKCS#1 v1.5 for RSA, DER-encoded
        ECDSA). Blocking."""
        ...


class RemoteKeyUnusable(Exception):
    """The remote key cannot make this signature: a key type that cannot sign a digest, or a
    signature value that does not verify with its certificate. Retrying will not help."""


def sign_with_remote_key(
    source: Path, target: Path, *, order: SignatureOrder, key: RemoteKey, seal: SealLike
) -> PersonCertificate:
    """Fill `order.field_name` with a PAdES B-T signature made by `key` (the seal still
    timestamps it and provides the trust settings); what the evidence keeps of its certificate.

    Raises what pades.sign_field_as raises, whatever key.sign_digests raises (the provider's
    unavailable/refused errors), and RemoteKeyUnusable; `target` is then not written."""
    sign_field_as(source, target, order, RemoteSigner(key), seal)
    return person_certificate(key.certificate_der, backend=BACKEND)


class RemoteSigner(Signer):
    """A pyHanko Signer whose raw signatures come from a RemoteKey.

    The CMS declares PKCS#1 v1.5 (RSA) or ECDSA with the digest algorithm, pyHanko's defaults
    for the certificate's key; each value returned is verified against the certificate before
    it goes into the PDF, so a confused provider cannot produce a broken signature silently."""

    def __init__(self, key: RemoteKey) -> None:
        certificate = x509.load_der_x509_certificate(key.certificate_der)
        public_key = certificate.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise RemoteKeyUnusable(
                f"the remote certificate has a {type(public_key).__name__}: "
                "only RSA and ECDSA keys can sign a digest"
            )
        chain = [asn1_x509.Certificate.load(der) for der in key.chain_der]
        super().__init__(
            signing_cert=asn1_x509.Certificate.load(key.certificate_der),
            cert_registry=SimpleCertificateStore.from_certs(chain),  # type: ignore[no-untyped-call]
            prefer_pss=False,
        )
        self._key = key
        self._public_key = public_key

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if dry_run:
            return bytes(self._signature_size())
        digest = hashlib.new(digest_algorithm, data).digest()
        hash_oid = algos.DigestAlgorithmId(digest_algorithm).dotted
        # A thread: the remote call blocks, and this runs inside pyHanko's event loop.
        signatures = await asyncio.to_thread(self._key.sign_digests, [digest], hash_oid)
        if len(signatures) != 1:
            raise RemoteKeyUnusable(f"the remote key returned {len(signatures)} signatures for 1")
        self._check(signatures[0], digest, digest_algorithm)
        return signatures[0]

    def _signature_size(self) -> int:
        """Room for a signature value: the RSA modulus, or the longest DER ECDSA value."""
        key = self._public_key
        if isinstance(key, rsa.RSAPublicKey):
            return (key.key_size + 7) // 8
        coordinate = (key.curve.key_size + 7) // 8
        return 2 * (coordinate + 3) + 3

    def _check(self, signature: bytes, digest: bytes, digest_algorithm: str) -> None:
        prehashed = Prehashed(get_pyca_cryptography_hash(digest_algorithm))
        try:
            if isinstance(self._public_key, rsa.RSAPublicKey):
                self._public_key.verify(signature, digest, PKCS1v15(), prehashed)
            else:
                self._public_key.verify(signature, digest, ec.ECDSA(prehashed))
        except InvalidSignature:
            raise RemoteKeyUnusable(
                "the signature the remote key returned does not verify with its certificate"
            ) from None
