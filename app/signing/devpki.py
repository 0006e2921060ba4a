"""The development PKI: a root CA, a seal certificate and a TSA certificate under data_dir/pki.

Created on the first start with no key configured and reused afterwards. Every name says
"not for production". Private keys are files readable by the owner only (0600), never rows.
The seal and TSA certificates name the running service as their revocation authority: an OCSP
responder at {base_url}/pki/ocsp (AIA) and a CRL at {base_url}/pki/root.crl (CRL distribution
point), which the service answers with responses freshly signed by the development root (see
ocsp_response and current_crl). The root answers OCSP itself (RFC 6960 2.6: the issuing CA may).

A PKI made by an earlier version, or for another base URL, keeps its root and keys: its seal
and TSA certificates are reissued (same keys, new serial numbers) when their URLs are missing or
differ from the running service's, so that validators can reach the revocation data they name.
Signatures made with the earlier certificates stay valid: the same root issued them, and its
CRL and OCSP answers cover every serial number it issued.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from app.clock import system_now
from app.files import write_private

ORGANIZATION = "Cachet development PKI"
ROOT_NAME = "Cachet Development Root CA - not for production"
SEAL_NAME = "Cachet Development Seal - not for production"
TSA_NAME = "Cachet Development TSA - not for production"

CERT_LIFETIME = timedelta(days=3650)
CRL_LIFETIME = timedelta(days=7)
# A CRL is re-signed once it is a day old, so the one handed out always has days to live.
CRL_REISSUE_AFTER = timedelta(days=1)
# OCSP answers say "good until tomorrow"; those kept for archiving are re-signed hourly.
OCSP_LIFETIME = timedelta(days=1)
OCSP_REISSUE_AFTER = timedelta(hours=1)

FILES = ("root", "seal", "tsa")
CRL_PATH = "/pki/root.crl"
OCSP_PATH = "/pki/ocsp"


class NotOurCertificate(LookupError):
    """An OCSP request about a certificate the development root did not issue."""


@dataclass(frozen=True)
class RevocationUrls:
    """Where the development certificates say their revocation status is published."""

    crl: str
    ocsp: str

    @classmethod
    def of_service(cls, base_url: str) -> RevocationUrls:
        base = base_url.rstrip("/")
        return cls(crl=base + CRL_PATH, ocsp=base + OCSP_PATH)


@dataclass(frozen=True)
class Identity:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate


@dataclass
class DevelopmentPki:
    directory: Path
    root: Identity
    seal: Identity
    tsa: Identity
    _crl: x509.CertificateRevocationList | None = field(default=None, repr=False)
    _crl_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    _known_ocsp: tuple[ocsp.OCSPResponse, ...] = field(default=(), repr=False)
    _ocsp_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def root_pem(self) -> bytes:
        return self.root.cert.public_bytes(serialization.Encoding.PEM)

    def current_crl(self) -> x509.CertificateRevocationList:
        """The root's (empty) CRL, re-signed when a day old. Safe to call from any thread."""
        with self._crl_lock:
            now = system_now()
            if self._crl is None or now - self._crl.last_update_utc > CRL_REISSUE_AFTER:
                self._crl = _sign_crl(self.root, now)
            return self._crl

    def known_ocsp_responses(self) -> tuple[ocsp.OCSPResponse, ...]:
        """ "Good" answers for the seal and TSA certificates, as archiving embeds them without
        asking the network (the service would be calling itself); re-signed hourly."""
        with self._ocsp_lock:
            now = system_now()
            fresh = self._known_ocsp and now - _this_update(self._known_ocsp[0]) < (
                OCSP_REISSUE_AFTER
            )
            if not fresh:
                self._known_ocsp = tuple(
                    _sign_ocsp(self.root, _status_of(leaf.cert, self.root.cert), now, nonce=None)
                    for leaf in (self.seal, self.tsa)
                )
            return self._known_ocsp

    def ocsp_response(self, request_der: bytes) -> ocsp.OCSPResponse:
        """The answer to an OCSP request (RFC 6960) about a certificate of this root: "good",
        since its CRL is empty. Raises ValueError for a request that does not parse and
        NotOurCertificate for another issuer's certificate."""
        request = ocsp.load_der_ocsp_request(request_der)
        try:
            issued_here = _issued_by(request, self.root.cert)
        except UnsupportedAlgorithm as error:
            raise ValueError(f"unsupported CertID hash: {error}") from None
        if not issued_here:
            raise NotOurCertificate("the certificate was not issued by the development root")
        try:
            nonce: bytes | None = request.extensions.get_extension_for_class(
                x509.OCSPNonce
            ).value.nonce
        except x509.ExtensionNotFound:
            nonce = None
        return _sign_ocsp(self.root, request, system_now(), nonce=nonce)


def load_or_create(directory: Path, base_url: str) -> DevelopmentPki:
    """The PKI in `directory`, created there first if it does not exist yet; its seal and TSA
    certificates reissued if they do not name this service's revocation URLs."""
    urls = RevocationUrls.of_service(base_url)
    if not (directory / "root.cert.pem").exists():
        _create(directory, urls)
    pki = _load(directory)
    if any(_urls_of(leaf.cert) != urls for leaf in (pki.seal, pki.tsa)):
        pki = _reissue_leaves(pki, urls)
    return pki


def _create(directory: Path, urls: RevocationUrls) -> None:
    """Built in a private temporary directory, then renamed into place in one step, so
    that a second process starting at the same time finds either nothing or all of it."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".pki-", dir=directory.parent))  # mode 0700
    try:
        now = system_now()
        root_key = _new_key()
        root_cert = _root_certificate(root_key, now)
        seal_key, tsa_key = _new_key(), _new_key()
        identities = {
            "root": Identity(root_key, root_cert),
            "seal": Identity(seal_key, _seal_certificate(seal_key, root_key, root_cert, now, urls)),
            "tsa": Identity(tsa_key, _tsa_certificate(tsa_key, root_key, root_cert, now, urls)),
        }
        for name, identity in identities.items():
            _write_identity(staging, name, identity)
        try:
            staging.rename(directory)
        except OSError:
            if not (directory / "root.cert.pem").exists():
                raise
            # Another process won the race: keep its PKI, drop ours.
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _load(directory: Path) -> DevelopmentPki:
    def identity(name: str) -> Identity:
        key = serialization.load_pem_private_key(
            (directory / f"{name}.key.pem").read_bytes(), password=None
        )
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{directory / name}.key.pem is not an RSA key")
        cert = x509.load_pem_x509_certificate((directory / f"{name}.cert.pem").read_bytes())
        return Identity(key, cert)

    return DevelopmentPki(directory, identity("root"), identity("seal"), identity("tsa"))


def _urls_of(cert: x509.Certificate) -> RevocationUrls | None:
    """The CRL and OCSP URLs a certificate names, if it names exactly one of each."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    crls = [name.value for point in points for name in point.full_name or ()]
    responders = [
        item.access_location.value
        for item in access
        if item.access_method == AuthorityInformationAccessOID.OCSP
    ]
    if len(crls) != 1 or len(responders) != 1:
        return None
    return RevocationUrls(crl=crls[0], ocsp=responders[0])


def _reissue_leaves(pki: DevelopmentPki, urls: RevocationUrls) -> DevelopmentPki:
    """New seal and TSA certificates for the same keys, naming `urls`. Each file is replaced
    in one step; two processes doing this at once each write a valid certificate."""
    now = system_now()
    root = pki.root
    seal = Identity(pki.seal.key, _seal_certificate(pki.seal.key, root.key, root.cert, now, urls))
    tsa = Identity(pki.tsa.key, _tsa_certificate(pki.tsa.key, root.key, root.cert, now, urls))
    for name, identity in (("seal", seal), ("tsa", tsa)):
        target = pki.directory / f"{name}.cert.pem"
        staging = target.with_name(f".{target.name}.{os.getpid()}.new")
        write_private(staging, identity.cert.public_bytes(serialization.Encoding.PEM))
        os.replace(staging, target)
    return DevelopmentPki(pki.directory, root, seal, tsa)


def _write_identity(directory: Path, name: str, identity: Identity) -> None:
    key_pem = identity.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # 0600 from creation on: the key is never readable by others, not even for a moment (and
    # the certificates are private too, like every file under the data directory).
    write_private(directory / f"{name}.key.pem", key_pem)
    write_private(
        directory / f"{name}.cert.pem", identity.cert.public_bytes(serialization.Encoding.PEM)
    )


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: str, public_key: rsa.RSAPublicKey, issuer: x509.Certificate | None, now: datetime
) -> x509.CertificateBuilder:
    issuer_name = issuer.subject if issuer is not None else _name(subject)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(**allowed: bool) -> x509.KeyUsage:
    flags = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    flags.update(allowed)
    return x509.KeyUsage(**flags)


def _root_certificate(key: rsa.RSAPrivateKey, now: datetime) -> x509.Certificate:
    return (
        _builder(ROOT_NAME, key.public_key(), None, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            _key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True), critical=True
        )
        .sign(key, hashes.SHA256())
    )


def _leaf_builder(
    subject: str,
    key: rsa.RSAPrivateKey,
    root_key: rsa.RSAPrivateKey,
    root_cert: x509.Certificate,
    now: datetime,
    urls: RevocationUrls,
) -> x509.CertificateBuilder:
    return (
        _builder(subject, key.public_key(), root_cert, now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(urls.crl)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(urls.ocsp),
                    )
                ]
            ),
            critical=False,
        )
    )


def _seal_certificate(
    key: rsa.RSAPrivateKey,
    root_key: rsa.RSAPrivateKey,
    root_cert: x509.Certificate,
    now: datetime,
    urls: RevocationUrls,
) -> x509.Certificate:
    return (
        _leaf_builder(SEAL_NAME, key, root_key, root_cert, now, urls)
        .add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
        .sign(root_key, hashes.SHA256())
    )


def _tsa_certificate(
    key: rsa.RSAPrivateKey,
    root_key: rsa.RSAPrivateKey,
    root_cert: x509.Certificate,
    now: datetime,
    urls: RevocationUrls,
) -> x509.Certificate:
    return (
        _leaf_builder(TSA_NAME, key, root_key, root_cert, now, urls)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        # RFC 3161 §2.3: a TSA certificate has exactly this one EKU, marked critical.
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(root_key, hashes.SHA256())
    )


def _sign_crl(root: Identity, now: datetime) -> x509.CertificateRevocationList:
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root.cert.subject)
        .last_update(now - timedelta(minutes=5))
        .next_update(now + CRL_LIFETIME)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()),
            critical=False,
        )
        .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
        .sign(root.key, hashes.SHA256())
    )


# --- OCSP -------------------------------------------------------------------------------------


def _status_of(cert: x509.Certificate, issuer: x509.Certificate) -> ocsp.OCSPRequest:
    """The question a client would ask about `cert` (a CertID with SHA-1, as clients send)."""
    return ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()


def _issued_by(request: ocsp.OCSPRequest, issuer: x509.Certificate) -> bool:
    algorithm = request.hash_algorithm
    return (request.issuer_name_hash, request.issuer_key_hash) == (
        _digest(algorithm, issuer.subject.public_bytes()),
        _digest(algorithm, _subject_public_key(issuer)),
    )


def _subject_public_key(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's content, which OCSP's issuerKeyHash covers."""
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize()


def _sign_ocsp(
    root: Identity,
    about: ocsp.OCSPRequest,
    now: datetime,
    *,
    nonce: bytes | None,
) -> ocsp.OCSPResponse:
    # Whole seconds: NSS (hence pdfsig) refuses GeneralizedTime with fractions.
    this_update = (now - timedelta(minutes=5)).replace(microsecond=0)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=about.issuer_name_hash,
            issuer_key_hash=about.issuer_key_hash,
            serial_number=about.serial_number,
            algorithm=about.hash_algorithm,
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=this_update,
            next_update=this_update + OCSP_LIFETIME,
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, root.cert)
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.sign(root.key, hashes.SHA256())


def _this_update(response: ocsp.OCSPResponse) -> datetime:
    return next(iter(response.responses)).this_update_utc
