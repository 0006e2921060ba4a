"""The development PKI: a root CA, a seal certificate and a TSA certificate under data_dir/pki,
and, when eIDAS advanced signatures use Cachet's own CA (local_ca), a signers CA under the root.

Created on the first start with no key configured and reused afterwards. Every name says
"not for production". Private keys are files readable by the owner only (0600), never rows.
The seal, TSA and signers CA certificates name the running service as their revocation
authority: an OCSP responder at {base_url}/pki/ocsp (AIA) and a CRL at {base_url}/pki/root.crl
(CRL distribution point), which the service answers with responses freshly signed by the
development root (see ocsp_response and current_crl). The root answers OCSP itself (RFC 6960
2.6: the issuing CA may).

A PKI made by an earlier version, or for another base URL, keeps its root and keys: its seal,
TSA and signers CA certificates are reissued (same keys, new serial numbers) when their URLs are
missing or differ from the running service's, so that validators can reach the revocation data
they name. Signatures made with the earlier certificates stay valid: the same root issued them,
and its CRL and OCSP answers cover every serial number it issued. A root made before the
signers CA existed said pathLenConstraint 0, which forbids any CA below it (NSS, hence pdfsig,
and OpenSSL enforce a root's constraint): the first start that needs the signers CA reissues
the root certificate, same key and name, new serial number. Trust its new PEM in pdfsig.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import threading
import uuid
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
SIGNERS_CA_NAME = "Cachet Development Signers CA - not for production"

# One CA (the signers CA) may stand between the root and a certificate.
ROOT_PATH_LENGTH = 1
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
    signers_ca: Identity | None = None
    """The CA of one-shot signer certificates; None unless load_or_create was asked for it."""
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
        """ "Good" answers for the seal, TSA and signers CA certificates, as archiving embeds
        them without asking the network (the service would be calling itself); re-signed
        hourly."""
        with self._ocsp_lock:
            now = system_now()
            fresh = self._known_ocsp and now - _this_update(self._known_ocsp[0]) < (
                OCSP_REISSUE_AFTER
            )
            if not fresh:
                self._known_ocsp = tuple(
                    _sign_ocsp(self.root, _status_of(issued.cert, self.root.cert), now, nonce=None)
                    for issued in self._issued_by_root()
                )
            return self._known_ocsp

    def _issued_by_root(self) -> tuple[Identity, ...]:
        others = (self.signers_ca,) if self.signers_ca is not None else ()
        return (self.seal, self.tsa, *others)

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


def load_or_create(directory: Path, base_url: str, *, signers_ca: bool = False) -> DevelopmentPki:
    """The PKI in `directory`, created there first if it does not exist yet; its seal and TSA
    certificates reissued if they do not name this service's revocation URLs. With
    `signers_ca`, the signers CA too: created if missing, its certificate reissued likewise."""
    urls = RevocationUrls.of_service(base_url)
    if not (directory / "root.cert.pem").exists():
        _create(directory, urls)
    pki = _load(directory)
    if any(_urls_of(leaf.cert) != urls for leaf in (pki.seal, pki.tsa)):
        pki = _reissue_leaves(pki, urls)
    if signers_ca:
        root = _root_allowing_a_ca_below(pki)
        pki = dataclasses.replace(pki, root=root, signers_ca=_signers_ca(directory, root, urls))
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
        _replace_certificate(pki.directory / f"{name}.cert.pem", identity.cert)
    return DevelopmentPki(pki.directory, root, seal, tsa)


def _replace_certificate(target: Path, cert: x509.Certificate) -> None:
    """The file replaced in one step: a reader sees the old certificate or the new one."""
    staging = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.new")
    write_private(staging, cert.public_bytes(serialization.Encoding.PEM))
    os.replace(staging, target)


# --- the signers CA ---------------------------------------------------------------------------


def _root_allowing_a_ca_below(pki: DevelopmentPki) -> Identity:
    """The root, its certificate reissued (same key and name) if it forbids a CA below it."""
    constraints = pki.root.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    if constraints.path_length is None or constraints.path_length >= ROOT_PATH_LENGTH:
        return pki.root
    cert = _with_root_path_length(pki.root)
    _replace_certificate(pki.directory / "root.cert.pem", cert)
    return Identity(pki.root.key, cert)


def _with_root_path_length(root: Identity) -> x509.Certificate:
    """The root certificate again, with ROOT_PATH_LENGTH: same key, name, validity and other
    extensions, a new serial number (NSS refuses two certificates with one issuer and serial)."""
    old = root.cert
    builder = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(old.issuer)
        .public_key(root.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(old.not_valid_before_utc)
        .not_valid_after(old.not_valid_after_utc)
    )
    for extension in old.extensions:
        value = extension.value
        if isinstance(value, x509.BasicConstraints):
            value = x509.BasicConstraints(ca=True, path_length=ROOT_PATH_LENGTH)
        builder = builder.add_extension(value, critical=extension.critical)
    return builder.sign(root.key, hashes.SHA256())


def _signers_ca(directory: Path, root: Identity, urls: RevocationUrls) -> Identity:
    """The signers CA under `directory`: its key created once (the first process to publish
    it wins a race), its certificate issued again when it does not name `urls` or the key."""
    key = _signers_ca_key(directory / "signers.key.pem")
    cert_path = directory / "signers.cert.pem"
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes()) if cert_path.exists() else None
    if cert is None or _urls_of(cert) != urls or not _certifies(cert, key):
        cert = _signers_ca_certificate(key, root, system_now(), urls)
        _replace_certificate(cert_path, cert)
    return Identity(key, cert)


def _signers_ca_key(path: Path) -> rsa.RSAPrivateKey:
    if not path.exists():
        staging = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.new")
        write_private(staging, _private_pem(_new_key()))
        try:
            os.link(staging, path)  # atomic, and refuses to replace a key already published
        except FileExistsError:
            pass  # another process published its key first: use that one
        finally:
            staging.unlink()
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA key")
    return key


def _certifies(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


def _write_identity(directory: Path, name: str, identity: Identity) -> None:
    key_pem = _private_pem(identity.key)
    # 0600 from creation on: the key is never readable by others, not even for a moment (and
    # the certificates are private too, like every file under the data directory).
    write_private(directory / f"{name}.key.pem", key_pem)
    write_private(
        directory / f"{name}.cert.pem", identity.cert.public_bytes(serialization.Encoding.PEM)
    )


def _private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
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
    # No later than the issuer: a certificate outliving its CA's would be refused from then on.
    not_after = now + CERT_LIFETIME
    if issuer is not None:
        not_after = min(not_after, issuer.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(not_after)
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
        .add_extension(x509.BasicConstraints(ca=True, path_length=ROOT_PATH_LENGTH), critical=True)
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
    *,
    ca: bool = False,
) -> x509.CertificateBuilder:
    """A certificate the root issues, naming the service's CRL and OCSP responder; `ca`: a CA
    that may issue end-entity certificates only (path length 0)."""
    constraints = x509.BasicConstraints(ca=ca, path_length=0 if ca else None)
    return (
        _builder(subject, key.public_key(), root_cert, now)
        .add_extension(constraints, critical=True)
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


def _signers_ca_certificate(
    key: rsa.RSAPrivateKey, root: Identity, now: datetime, urls: RevocationUrls
) -> x509.Certificate:
    """A CA that issues end-entity certificates only (path length 0); its own revocation
    status is the root's, like the seal's."""
    return (
        _leaf_builder(SIGNERS_CA_NAME, key, root.key, root.cert, now, urls, ca=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .sign(root.key, hashes.SHA256())
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
