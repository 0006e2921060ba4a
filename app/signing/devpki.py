"""The development PKI: a root CA, a seal certificate and a TSA certificate under data_dir/pki.

Created on the first start with no key configured and reused afterwards. Every name says
"not for production". Private keys are files readable by the owner only (0600), never rows.
The certificates point their CRL distribution point at {base_url}/pki/root.crl, which the
service answers with a CRL freshly signed by the development root (see current_crl).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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

FILES = ("root", "seal", "tsa")


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


def load_or_create(directory: Path, crl_url: str) -> DevelopmentPki:
    """The PKI in `directory`, created there first if it does not exist yet."""
    if not (directory / "root.cert.pem").exists():
        _create(directory, crl_url)
    return _load(directory)


def _create(directory: Path, crl_url: str) -> None:
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
            "seal": Identity(
                seal_key, _seal_certificate(seal_key, root_key, root_cert, now, crl_url)
            ),
            "tsa": Identity(tsa_key, _tsa_certificate(tsa_key, root_key, root_cert, now, crl_url)),
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
    crl_url: str,
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
                        full_name=[x509.UniformResourceIdentifier(crl_url)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
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
    crl_url: str,
) -> x509.Certificate:
    return (
        _leaf_builder(SEAL_NAME, key, root_key, root_cert, now, crl_url)
        .add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
        .sign(root_key, hashes.SHA256())
    )


def _tsa_certificate(
    key: rsa.RSAPrivateKey,
    root_key: rsa.RSAPrivateKey,
    root_cert: x509.Certificate,
    now: datetime,
    crl_url: str,
) -> x509.Certificate:
    return (
        _leaf_builder(TSA_NAME, key, root_key, root_cert, now, crl_url)
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
