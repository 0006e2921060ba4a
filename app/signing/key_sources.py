"""Where a private key of the platform comes from: PEM files, a PKCS#12 file or a PKCS#11 token.

Two keys are configured this way, each with its own family of settings: the platform seal
(`signing_*`, app.signing.keys) and the CA that issues signers' one-shot certificates
(`issuing_ca_*`, app.signing.issuing). A KeyRole names the family and the error its mistakes
raise; the loaders below read the one source the family configures and give a pyHanko signer
(certificate and chain included), or raise that error naming the setting to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.keys.internal import translate_pyca_cryptography_key_to_asn1
from pyhanko.sign.signers import Signer, SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash, process_pss_params

from app.config import Settings


class KeyConfigError(ValueError):
    """A key setting is missing, contradictory or unusable; the message names it."""


def _nothing_to_close() -> None:
    return None


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
        *,
        prefer_pss: bool = False,
    ) -> None:
        super().__init__(
            signing_cert=signing_cert,
            signing_key=translate_pyca_cryptography_key_to_asn1(private_key),
            cert_registry=SimpleCertificateStore.from_certs(list(chain)),  # type: ignore[no-untyped-call]
            prefer_pss=prefer_pss,
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


@dataclass(frozen=True)
class LoadedKey:
    """A configured key source, loaded: its signer and a phrase saying where it came from."""

    signer: Signer
    description: str
    on_close: Callable[[], None] = _nothing_to_close


# The settings of one key, by the suffix that follows the family's prefix.
PEM_SUFFIXES = ("key_file", "cert_file", "key_password")
PKCS12_SUFFIXES = ("pkcs12_file", "pkcs12_password")
PKCS11_SUFFIXES = (
    "pkcs11_module",
    "pkcs11_token_label",
    "pkcs11_pin",
    "pkcs11_key_label",
    "pkcs11_cert_label",
)
SOURCE_SUFFIXES = {
    "PEM files": PEM_SUFFIXES,
    "PKCS#12": PKCS12_SUFFIXES,
    "PKCS#11": PKCS11_SUFFIXES,
}


def env_name(setting: str) -> str:
    return "CACHET_" + setting.upper()


@dataclass(frozen=True)
class KeyRole:
    """One family of key settings: `{prefix}_key_file`, `{prefix}_pkcs12_file`, ...

    `source_noun` says what the settings configure in the "configure one ..." message."""

    prefix: str
    source_noun: str
    error: type[KeyConfigError]

    def setting(self, suffix: str) -> str:
        return f"{self.prefix}_{suffix}"

    def env(self, suffix: str) -> str:
        return env_name(self.setting(suffix))

    def value(self, settings: Settings, suffix: str) -> Any:
        return getattr(settings, self.setting(suffix))

    def sources(self) -> dict[str, tuple[str, ...]]:
        """Each source's setting names (as in Settings)."""
        return {
            name: tuple(self.setting(suffix) for suffix in suffixes)
            for name, suffixes in SOURCE_SUFFIXES.items()
        }


def configured_source(settings: Settings, role: KeyRole) -> str | None:
    """Which key source the role's settings name, if any; two at once is an error."""
    sources = role.sources()
    chosen = [
        name
        for name, setting_names in sources.items()
        if any(getattr(settings, setting) is not None for setting in setting_names)
    ]
    if len(chosen) > 1:
        named = "; ".join(
            f"{name}: " + ", ".join(env_name(s) for s in sources[name] if getattr(settings, s))
            for name in chosen
        )
        raise role.error(
            f"configure one {role.source_noun}, not {len(chosen)} ({named}); unset the others"
        )
    return chosen[0] if chosen else None


def load_configured_key(settings: Settings, role: KeyRole, source: str) -> LoadedKey:
    """The key of `source` (a name configured_source returned). Blocking: file and token I/O."""
    return _LOADERS[source](settings, role)


# --- the three sources ---------------------------------------------------------------------------


def _load_pem(settings: Settings, role: KeyRole) -> LoadedKey:
    key_file: Path = _required(settings, role, "key_file", "cert_file")
    cert_file: Path = _required(settings, role, "cert_file", "key_file")
    key = _private_key(
        _read(key_file, role.setting("key_file"), role.error),
        role.value(settings, "key_password"),
        key_file,
        role,
    )
    certificates = parse_certificates(
        _read(cert_file, role.setting("cert_file"), role.error),
        role.setting("cert_file"),
        role.error,
    )
    if not certificates:
        raise role.error(f"{role.env('cert_file')}: no certificate in {cert_file}")
    certificate = certificates[0]
    if not _same_public_key(key, certificate):
        raise role.error(
            f"{role.env('cert_file')}: {cert_file} is not the certificate of the key in "
            f"{role.env('key_file')}"
        )
    chain = certificates[1:] + _chain_file(settings, role)
    signer = CachedKeySigner(to_asn1(certificate), key, chain=[to_asn1(c) for c in chain])
    return LoadedKey(signer, f"PEM files {key_file} and {cert_file}")


def _load_pkcs12(settings: Settings, role: KeyRole) -> LoadedKey:
    path: Path = _required(settings, role, "pkcs12_file", "pkcs12_password")
    data = _read(path, role.setting("pkcs12_file"), role.error)
    password = role.value(settings, "pkcs12_password")
    try:
        key, certificate, others = pkcs12.load_key_and_certificates(
            data, password.encode() if password else None
        )
    except ValueError:
        raise role.error(
            f"{role.env('pkcs12_password')}: cannot open {path} ({role.env('pkcs12_file')}): "
            "wrong or missing password, or not a PKCS#12 file"
        ) from None
    if key is None or certificate is None:
        raise role.error(
            f"{role.env('pkcs12_file')}: {path} must hold a private key and its certificate"
        )
    chain = list(others) + _chain_file(settings, role)
    signer = CachedKeySigner(
        to_asn1(certificate),
        key,
        chain=[to_asn1(c) for c in chain],
    )
    return LoadedKey(signer, f"PKCS#12 file {path}")


def _load_pkcs11(settings: Settings, role: KeyRole) -> LoadedKey:
    import pkcs11
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

    module: Path = _required(settings, role, "pkcs11_module", "pkcs11_key_label")
    token_label: str = _required(settings, role, "pkcs11_token_label", "pkcs11_module")
    key_label: str = _required(settings, role, "pkcs11_key_label", "pkcs11_module")
    cert_label = role.value(settings, "pkcs11_cert_label") or key_label
    if not module.is_file():
        raise role.error(f"{role.env('pkcs11_module')}: no such file {module}")
    chain = _chain_file(settings, role)
    try:
        session = open_pkcs11_session(
            str(module),
            token_criteria=TokenCriteria(label=token_label),
            user_pin=role.value(settings, "pkcs11_pin"),
        )
    except pkcs11.exceptions.PinIncorrect:
        raise role.error(
            f"{role.env('pkcs11_pin')}: the token {token_label!r} refused the PIN"
        ) from None
    except (pkcs11.exceptions.PKCS11Error, RuntimeError, OSError) as error:
        raise role.error(
            f"{role.env('pkcs11_token_label')}: cannot open token {token_label!r} with "
            f"{module}: {error or type(error).__name__}"
        ) from None
    signer = PKCS11Signer(
        session, cert_label=cert_label, key_label=key_label, ca_chain=[to_asn1(c) for c in chain]
    )
    try:
        signer.signing_cert  # noqa: B018  -- loads certificate and key handle now, not mid-signature
    except (pkcs11.exceptions.PKCS11Error, RuntimeError) as error:
        session.close()
        raise role.error(
            f"{role.env('pkcs11_key_label')} / {role.env('pkcs11_cert_label')}: "
            f"{error or type(error).__name__}"
        ) from None
    description = f"PKCS#11 token {token_label!r}, key {key_label!r} ({module})"
    return LoadedKey(signer, description, on_close=session.close)


_LOADERS: dict[str, Callable[[Settings, KeyRole], LoadedKey]] = {
    "PEM files": _load_pem,
    "PKCS#12": _load_pkcs12,
    "PKCS#11": _load_pkcs11,
}


# --- chains ------------------------------------------------------------------------------------


def chain_anchor(signer: Signer) -> asn1_x509.Certificate | None:
    """The self-signed root above the signer's certificate among the certificates the signer
    carries; None if the chain stops short of one."""
    certificates = list(signer.cert_registry)
    current = signer.signing_cert
    if current is None:
        return None
    for _ in range(len(certificates) + 1):
        if current.self_signed != "no":
            return current
        issuer = next((c for c in certificates if c.subject == current.issuer), None)
        if issuer is None:
            return None
        current = issuer
    return None


def _chain_file(settings: Settings, role: KeyRole) -> list[x509.Certificate]:
    return read_certificates(
        role.value(settings, "chain_file"), role.setting("chain_file"), role.error
    )


# --- small helpers -----------------------------------------------------------------------------


def _required(settings: Settings, role: KeyRole, suffix: str, because: str) -> Any:
    """The setting's value; its absence is an error, since `because` is set."""
    value = role.value(settings, suffix)
    if value is None:
        raise role.error(f"{role.env(suffix)} is required with {role.env(because)}")
    return value


def _read(path: Path, setting: str, error: type[KeyConfigError]) -> bytes:
    try:
        return path.read_bytes()
    except OSError as problem:
        raise error(
            f"{env_name(setting)}: cannot read {path}: {problem.strerror or problem}"
        ) from None


def _private_key(data: bytes, password: str | None, path: Path, role: KeyRole) -> PrivateKeyTypes:
    secret = password.encode() if password else None
    password_setting = role.env("key_password")
    try:
        if b"-----BEGIN" in data:
            return serialization.load_pem_private_key(data, password=secret)
        return serialization.load_der_private_key(data, password=secret)
    except TypeError:  # cryptography's way to say "encrypted, no password" (or the reverse)
        if secret is None:
            raise role.error(f"{password_setting} is required: {path} is encrypted") from None
        raise role.error(f"{password_setting} is set but {path} is not encrypted") from None
    except ValueError:
        if secret is not None:
            raise role.error(
                f"{password_setting}: wrong password for {path}, or not a private key"
            ) from None
        raise role.error(
            f"{role.env('key_file')}: {path} is not a PEM or DER private key"
        ) from None


def parse_certificates(
    data: bytes, setting: str, error: type[KeyConfigError]
) -> list[x509.Certificate]:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise error(f"{env_name(setting)}: not PEM or DER X.509 certificates") from None


def read_certificates(
    path: Path | None, setting: str, error: type[KeyConfigError]
) -> list[x509.Certificate]:
    if path is None:
        return []
    return parse_certificates(_read(path, setting, error), setting, error)


def _same_public_key(key: PrivateKeyTypes, certificate: x509.Certificate) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(*spki) == certificate.public_key().public_bytes(*spki)


def to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
