"""The platform seal: signing key, certificate chain, timestamper and trust roots.

load_seal(settings) reads the one key source the settings configure -- PEM files, a PKCS#12
file or a PKCS#11 token -- or, with none, the development PKI under data_dir/pki. Timestamps
come from CACHET_TSA_URL, or in development from the development TSA. Keys never enter the
database. Configuration mistakes raise SealConfigError naming the setting to fix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
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
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash, process_pss_params

from app.config import Settings
from app.signing import devpki
from app.signing.timestamping import DevelopmentTimeStamper, http_timestamper

log = logging.getLogger("cachet.signing")


class SealConfigError(ValueError):
    """A signing setting is missing, contradictory or unusable; the message names it."""


def _no_crls() -> tuple[asn1_crl.CertificateList, ...]:
    return ()


def _no_ocsps() -> tuple[asn1_ocsp.OCSPResponse, ...]:
    return ()


def _nothing_to_close() -> None:
    return None


@dataclass(frozen=True)
class Seal:
    """What signs for the platform. Shared by all worker threads: nothing in it is mutated
    by signing (the PKCS#11 session is used concurrently, which pyHanko allows)."""

    signer: Signer
    timestamper: TimeStamper
    trust_roots: tuple[asn1_x509.Certificate, ...]
    source: str
    # Revocation data known without the network (the development root's CRL and its OCSP
    # answers for the development seal and TSA, kept fresh).
    known_crls: Callable[[], tuple[asn1_crl.CertificateList, ...]] = field(default=_no_crls)
    known_ocsps: Callable[[], tuple[asn1_ocsp.OCSPResponse, ...]] = field(default=_no_ocsps)
    allow_fetching: bool = True
    # Set whenever the development PKI is in use (its seal, its TSA or both).
    development_pki: devpki.DevelopmentPki | None = None
    on_close: Callable[[], None] = field(default=_nothing_to_close)

    def validation_context(self, *, require_revocation: bool = False) -> ValidationContext:
        """A new context per call: pyHanko caches fetched revocation data inside it, and its
        HTTP sessions belong to the event loop of the thread that uses it. Close it (aclose).

        require_revocation: every certificate below a trust root must have revocation data
        (OCSP, else a CRL), fetched or known; one that cannot be had fails the validation
        (hard-fail), which is what archiving needs. Otherwise pyHanko's soft-fail default."""
        return ValidationContext(
            trust_roots=list(self.trust_roots),
            allow_fetching=self.allow_fetching,
            crls=list(self.known_crls()),
            ocsps=list(self.known_ocsps()),
            revocation_mode="require" if require_revocation else "soft-fail",
        )

    def close(self) -> None:
        self.on_close()


def platform_seal(handle: object) -> Seal:
    """The seal the runtime holds, as what it is. The runtime types it only as something to
    close (it does not depend on this package); main.py always puts a Seal there."""
    if not isinstance(handle, Seal):
        raise TypeError(f"the runtime holds a {type(handle).__name__} where a Seal belongs")
    return handle


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


# --- loading ---------------------------------------------------------------------------------

PEM_SETTINGS = ("signing_key_file", "signing_cert_file", "signing_key_password")
PKCS12_SETTINGS = ("signing_pkcs12_file", "signing_pkcs12_password")
PKCS11_SETTINGS = (
    "signing_pkcs11_module",
    "signing_pkcs11_token_label",
    "signing_pkcs11_pin",
    "signing_pkcs11_key_label",
    "signing_pkcs11_cert_label",
)
SOURCES = {"PEM files": PEM_SETTINGS, "PKCS#12": PKCS12_SETTINGS, "PKCS#11": PKCS11_SETTINGS}


def env_name(setting: str) -> str:
    return "CACHET_" + setting.upper()


@dataclass(frozen=True)
class LoadedKey:
    """A configured key source, loaded: its signer and a phrase saying where it came from."""

    signer: Signer
    description: str
    on_close: Callable[[], None] = _nothing_to_close


def load_seal(settings: Settings) -> Seal:
    """The platform seal the settings describe. Blocking (file and token I/O): call it in a
    thread. Raises SealConfigError on any configuration problem."""
    extra_roots = [
        _to_asn1(c) for c in _read_certificates(settings.trust_roots_file, "trust_roots_file")
    ]
    source = configured_source(settings)
    dev: devpki.DevelopmentPki | None = None
    if source is None:
        if not settings.is_development:
            raise SealConfigError(
                "production needs the platform seal's key: set CACHET_SIGNING_KEY_FILE and "
                "CACHET_SIGNING_CERT_FILE, or CACHET_SIGNING_PKCS12_FILE, or "
                "CACHET_SIGNING_PKCS11_MODULE (the development PKI is for development only)"
            )
        dev = _development_pki(settings)
        loaded = LoadedKey(
            CachedKeySigner(_to_asn1(dev.seal.cert), dev.seal.key, chain=[_to_asn1(dev.root.cert)]),
            f"development PKI under {settings.pki_dir} (not for production)",
        )
    else:
        loaded = LOADERS[source](settings)
    try:
        return _assemble(settings, loaded, dev, extra_roots)
    except BaseException:
        loaded.on_close()
        raise


def configured_source(settings: Settings) -> str | None:
    """Which key source the settings name, if any; two at once is an error."""
    chosen = [
        name
        for name, setting_names in SOURCES.items()
        if any(getattr(settings, setting) is not None for setting in setting_names)
    ]
    if len(chosen) > 1:
        named = "; ".join(
            f"{name}: " + ", ".join(env_name(s) for s in SOURCES[name] if getattr(settings, s))
            for name in chosen
        )
        raise SealConfigError(
            f"configure one signing key source, not {len(chosen)} ({named}); unset the others"
        )
    return chosen[0] if chosen else None


def _assemble(
    settings: Settings,
    loaded: LoadedKey,
    dev: devpki.DevelopmentPki | None,
    extra_roots: Sequence[asn1_x509.Certificate],
) -> Seal:
    timestamper, dev, tsa_description = _timestamper(settings, dev)
    roots = list(extra_roots)
    anchor = _chain_anchor(loaded.signer)
    if anchor is None and not roots:
        raise SealConfigError(
            "the seal certificate's chain does not reach a root: add its intermediates and "
            "root to CACHET_SIGNING_CHAIN_FILE (or trust its CA in CACHET_TRUST_ROOTS_FILE)"
        )
    if anchor is not None:
        roots.insert(0, anchor)
    if dev is not None:
        roots.append(_to_asn1(dev.root.cert))
    only_development = loaded.description.startswith("development PKI") and isinstance(
        timestamper, DevelopmentTimeStamper
    )
    seal = Seal(
        signer=loaded.signer,
        timestamper=timestamper,
        trust_roots=tuple(_unique(roots)),
        source=f"{loaded.description}; timestamps from {tsa_description}",
        known_crls=_crl_source(dev) if dev is not None else _no_crls,
        known_ocsps=_ocsp_source(dev) if dev is not None else _no_ocsps,
        # Everything from the development PKI: its CRL and OCSP answers are known, nothing to
        # fetch (fetching would call this very service at base_url, which a CLI run or a
        # standalone worker does not serve). With a development TSA beside a real seal, or the
        # reverse, the development certificates' data is fetched from base_url like any other.
        allow_fetching=not only_development,
        development_pki=dev,
        on_close=loaded.on_close,
    )
    log.info("platform seal: %s", seal.source)
    return seal


def _timestamper(
    settings: Settings, dev: devpki.DevelopmentPki | None
) -> tuple[TimeStamper, devpki.DevelopmentPki | None, str]:
    if settings.tsa_url:
        return http_timestamper(settings.tsa_url), dev, settings.tsa_url
    if not settings.is_development:
        raise SealConfigError(
            "CACHET_TSA_URL is required in production: signatures need timestamps from a "
            "real RFC 3161 timestamp authority"
        )
    if dev is None:
        log.warning(
            "CACHET_TSA_URL is not set: timestamps come from the development TSA "
            "(not for production)"
        )
        dev = _development_pki(settings)
    timestamper = DevelopmentTimeStamper(
        _to_asn1(dev.tsa.cert), dev.tsa.key, certs_to_embed=[_to_asn1(dev.root.cert)]
    )
    return timestamper, dev, "the development TSA (not for production)"


def _development_pki(settings: Settings) -> devpki.DevelopmentPki:
    try:
        return devpki.load_or_create(settings.pki_dir, settings.base_url)
    except (OSError, ValueError) as error:
        raise SealConfigError(
            f"cannot create or read the development PKI under {settings.pki_dir} "
            f"(CACHET_DATA_DIR): {error}"
        ) from None


def _crl_source(
    dev: devpki.DevelopmentPki,
) -> Callable[[], tuple[asn1_crl.CertificateList, ...]]:
    def current() -> tuple[asn1_crl.CertificateList, ...]:
        der = dev.current_crl().public_bytes(serialization.Encoding.DER)
        return (asn1_crl.CertificateList.load(der),)

    return current


def _ocsp_source(
    dev: devpki.DevelopmentPki,
) -> Callable[[], tuple[asn1_ocsp.OCSPResponse, ...]]:
    def current() -> tuple[asn1_ocsp.OCSPResponse, ...]:
        return tuple(
            asn1_ocsp.OCSPResponse.load(response.public_bytes(serialization.Encoding.DER))
            for response in dev.known_ocsp_responses()
        )

    return current


def _chain_anchor(signer: Signer) -> asn1_x509.Certificate | None:
    """The self-signed root above the seal certificate among the certificates the signer
    carries; None if the chain stops short of one."""
    certificates = list(signer.cert_registry)
    current: asn1_x509.Certificate = signer.signing_cert
    for _ in range(len(certificates) + 1):
        if current.self_signed != "no":
            return current
        issuer = next((c for c in certificates if c.subject == current.issuer), None)
        if issuer is None:
            return None
        current = issuer
    return None


def _unique(certificates: Iterable[asn1_x509.Certificate]) -> list[asn1_x509.Certificate]:
    seen: set[bytes] = set()
    result = []
    for certificate in certificates:
        if certificate.sha256 not in seen:
            seen.add(certificate.sha256)
            result.append(certificate)
    return result


# --- the three configured sources --------------------------------------------------------------


def _load_pem(settings: Settings) -> LoadedKey:
    key_file: Path = _required(settings, "signing_key_file", "signing_cert_file")
    cert_file: Path = _required(settings, "signing_cert_file", "signing_key_file")
    key = _private_key(_read(key_file, "signing_key_file"), settings.signing_key_password, key_file)
    certificates = _parse_certificates(_read(cert_file, "signing_cert_file"), "signing_cert_file")
    if not certificates:
        raise SealConfigError(f"CACHET_SIGNING_CERT_FILE: no certificate in {cert_file}")
    certificate = certificates[0]
    _check_pair(
        key,
        certificate,
        f"CACHET_SIGNING_CERT_FILE: {cert_file} is not the certificate of the key in "
        "CACHET_SIGNING_KEY_FILE",
    )
    chain = certificates[1:] + _read_certificates(settings.signing_chain_file, "signing_chain_file")
    signer = CachedKeySigner(_to_asn1(certificate), key, chain=[_to_asn1(c) for c in chain])
    return LoadedKey(signer, f"PEM files {key_file} and {cert_file}")


def _load_pkcs12(settings: Settings) -> LoadedKey:
    path: Path = _required(settings, "signing_pkcs12_file", "signing_pkcs12_password")
    data = _read(path, "signing_pkcs12_file")
    password = settings.signing_pkcs12_password
    try:
        key, certificate, others = pkcs12.load_key_and_certificates(
            data, password.encode() if password else None
        )
    except ValueError:
        raise SealConfigError(
            f"CACHET_SIGNING_PKCS12_PASSWORD: cannot open {path} (CACHET_SIGNING_PKCS12_FILE): "
            "wrong or missing password, or not a PKCS#12 file"
        ) from None
    if key is None or certificate is None:
        raise SealConfigError(
            f"CACHET_SIGNING_PKCS12_FILE: {path} must hold a private key and its certificate"
        )
    chain = list(others) + _read_certificates(settings.signing_chain_file, "signing_chain_file")
    signer = CachedKeySigner(
        _to_asn1(certificate),
        key,
        chain=[_to_asn1(c) for c in chain],
    )
    return LoadedKey(signer, f"PKCS#12 file {path}")


def _load_pkcs11(settings: Settings) -> LoadedKey:
    import pkcs11
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

    module: Path = _required(settings, "signing_pkcs11_module", "signing_pkcs11_key_label")
    token_label: str = _required(settings, "signing_pkcs11_token_label", "signing_pkcs11_module")
    key_label: str = _required(settings, "signing_pkcs11_key_label", "signing_pkcs11_module")
    cert_label = settings.signing_pkcs11_cert_label or key_label
    if not module.is_file():
        raise SealConfigError(f"CACHET_SIGNING_PKCS11_MODULE: no such file {module}")
    chain = _read_certificates(settings.signing_chain_file, "signing_chain_file")
    try:
        session = open_pkcs11_session(
            str(module),
            token_criteria=TokenCriteria(label=token_label),
            user_pin=settings.signing_pkcs11_pin,
        )
    except pkcs11.exceptions.PinIncorrect:
        raise SealConfigError(
            f"CACHET_SIGNING_PKCS11_PIN: the token {token_label!r} refused the PIN"
        ) from None
    except (pkcs11.exceptions.PKCS11Error, RuntimeError, OSError) as error:
        raise SealConfigError(
            f"CACHET_SIGNING_PKCS11_TOKEN_LABEL: cannot open token {token_label!r} with "
            f"{module}: {error or type(error).__name__}"
        ) from None
    signer = PKCS11Signer(
        session, cert_label=cert_label, key_label=key_label, ca_chain=[_to_asn1(c) for c in chain]
    )
    try:
        signer.signing_cert  # noqa: B018  -- loads certificate and key handle now, not mid-signature
    except (pkcs11.exceptions.PKCS11Error, RuntimeError) as error:
        session.close()
        raise SealConfigError(
            "CACHET_SIGNING_PKCS11_KEY_LABEL / CACHET_SIGNING_PKCS11_CERT_LABEL: "
            f"{error or type(error).__name__}"
        ) from None
    description = f"PKCS#11 token {token_label!r}, key {key_label!r} ({module})"
    return LoadedKey(signer, description, on_close=session.close)


LOADERS: dict[str, Callable[[Settings], LoadedKey]] = {
    "PEM files": _load_pem,
    "PKCS#12": _load_pkcs12,
    "PKCS#11": _load_pkcs11,
}


# --- small helpers -----------------------------------------------------------------------------


def _required(settings: Settings, setting: str, because: str) -> Any:
    """The setting's value; its absence is an error, since `because` is set."""
    value = getattr(settings, setting)
    if value is None:
        raise SealConfigError(f"{env_name(setting)} is required with {env_name(because)}")
    return value


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise SealConfigError(
            f"{env_name(setting)}: cannot read {path}: {error.strerror or error}"
        ) from None


def _private_key(data: bytes, password: str | None, path: Path) -> PrivateKeyTypes:
    secret = password.encode() if password else None
    try:
        if b"-----BEGIN" in data:
            return serialization.load_pem_private_key(data, password=secret)
        return serialization.load_der_private_key(data, password=secret)
    except TypeError:  # cryptography's way to say "encrypted, no password" (or the reverse)
        if secret is None:
            raise SealConfigError(
                f"CACHET_SIGNING_KEY_PASSWORD is required: {path} is encrypted"
            ) from None
        raise SealConfigError(
            f"CACHET_SIGNING_KEY_PASSWORD is set but {path} is not encrypted"
        ) from None
    except ValueError:
        if secret is not None:
            raise SealConfigError(
                f"CACHET_SIGNING_KEY_PASSWORD: wrong password for {path}, or not a private key"
            ) from None
        raise SealConfigError(
            f"CACHET_SIGNING_KEY_FILE: {path} is not a PEM or DER private key"
        ) from None


def _parse_certificates(data: bytes, setting: str) -> list[x509.Certificate]:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise SealConfigError(f"{env_name(setting)}: not PEM or DER X.509 certificates") from None


def _read_certificates(path: Path | None, setting: str) -> list[x509.Certificate]:
    if path is None:
        return []
    return _parse_certificates(_read(path, setting), setting)


def _check_pair(key: PrivateKeyTypes, certificate: x509.Certificate, message: str) -> None:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
        raise SealConfigError(message)


def _to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
