"""The platform seal: signing key, certificate chain, timestamper and trust roots.

load_seal(settings) reads the one key source the settings configure -- PEM files, a PKCS#12
file or a PKCS#11 token (app.signing.key_sources) -- or, with none, the development PKI under
data_dir/pki. Timestamps come from CACHET_TSA_URL, or in development from the development TSA.
With CACHET_ADVANCED_SIGNER=local_ca it also loads Cachet's issuing CA (app.signing.issuing),
whose root it trusts and whose CRL it knows: the seal is what every signing operation and every
validation of the service is given. Keys never enter the database. Configuration mistakes raise
SealConfigError (IssuingCaConfigError for the issuing CA) naming the setting to fix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.signers import Signer
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator import ValidationContext

from app.config import Settings
from app.signing import devpki
from app.signing.issuing import IssuingCa, development_issuing_ca_in_use, load_issuing_ca
from app.signing.key_sources import (
    CachedKeySigner as CachedKeySigner,  # the seal's signer for keys in memory; tests use it
)
from app.signing.key_sources import (
    KeyConfigError,
    KeyRole,
    LoadedKey,
    chain_anchor,
    load_configured_key,
    read_certificates,
    to_asn1,
)
from app.signing.key_sources import configured_source as configured_key_source
from app.signing.timestamping import DevelopmentTimeStamper, http_timestamper

log = logging.getLogger("cachet.signing")


class SealConfigError(KeyConfigError):
    """A signing setting is missing, contradictory or unusable; the message names it."""


SEAL_KEY = KeyRole("signing", "signing key source", SealConfigError)


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
    # Set whenever the development PKI is in use (its seal, its TSA, its signers CA).
    development_pki: devpki.DevelopmentPki | None = None
    # Cachet's CA for signers' one-shot certificates; None unless CACHET_ADVANCED_SIGNER is
    # local_ca.
    issuing_ca: IssuingCa | None = None
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


# --- loading ---------------------------------------------------------------------------------


def load_seal(settings: Settings) -> Seal:
    """The platform seal the settings describe. Blocking (file and token I/O): call it in a
    thread. Raises SealConfigError on any configuration problem of the seal, and
    IssuingCaConfigError on one of the issuing CA."""
    extra_roots = [
        to_asn1(c)
        for c in read_certificates(settings.trust_roots_file, "trust_roots_file", SealConfigError)
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
            CachedKeySigner(to_asn1(dev.seal.cert), dev.seal.key, chain=[to_asn1(dev.root.cert)]),
            f"development PKI under {settings.pki_dir} (not for production)",
        )
    else:
        loaded = load_configured_key(settings, SEAL_KEY, source)
    try:
        return _assemble(settings, loaded, dev, extra_roots)
    except BaseException:
        loaded.on_close()
        raise


def configured_source(settings: Settings) -> str | None:
    """Which key source the seal's settings name, if any; two at once is an error."""
    return configured_key_source(settings, SEAL_KEY)


def _assemble(
    settings: Settings,
    loaded: LoadedKey,
    dev: devpki.DevelopmentPki | None,
    extra_roots: Sequence[asn1_x509.Certificate],
) -> Seal:
    timestamper, dev, tsa_description = _timestamper(settings, dev)
    roots = list(extra_roots)
    anchor = chain_anchor(loaded.signer)
    if anchor is None and not roots:
        raise SealConfigError(
            "the seal certificate's chain does not reach a root: add its intermediates and "
            "root to CACHET_SIGNING_CHAIN_FILE (or trust its CA in CACHET_TRUST_ROOTS_FILE)"
        )
    if anchor is not None:
        roots.insert(0, anchor)
    issuing_ca, dev = _issuing_ca(settings, dev)
    if dev is not None:
        roots.append(to_asn1(dev.root.cert))
    if issuing_ca is not None:
        roots.append(issuing_ca.trust_anchor)
    try:
        seal = Seal(
            signer=loaded.signer,
            timestamper=timestamper,
            trust_roots=tuple(_unique(roots)),
            source=_describe(loaded, tsa_description, issuing_ca),
            known_crls=_crl_source(dev, issuing_ca),
            known_ocsps=_ocsp_source(dev) if dev is not None else _no_ocsps,
            # Everything from the development PKI: its CRL and OCSP answers are known, nothing
            # to fetch (fetching would call this very service at base_url, which a CLI run or
            # a standalone worker does not serve). With a development TSA beside a real seal,
            # or the reverse, the development certificates' data is fetched from base_url like
            # any other.
            allow_fetching=not _only_development(loaded, timestamper, issuing_ca),
            development_pki=dev,
            issuing_ca=issuing_ca,
            on_close=_closing(loaded, issuing_ca),
        )
    except BaseException:
        if issuing_ca is not None:
            issuing_ca.close()
        raise
    log.info("platform seal: %s", seal.source)
    return seal


def _issuing_ca(
    settings: Settings, dev: devpki.DevelopmentPki | None
) -> tuple[IssuingCa | None, devpki.DevelopmentPki | None]:
    """The issuing CA when eIDAS advanced signatures use it, and the development PKI, loaded
    now if its signers CA is what they use."""
    if settings.advanced_signer != "local_ca":
        return None, dev
    if dev is None and development_issuing_ca_in_use(settings) and settings.is_development:
        dev = _development_pki(settings)
    return load_issuing_ca(settings, dev), dev


def _only_development(
    loaded: LoadedKey, timestamper: TimeStamper, issuing_ca: IssuingCa | None
) -> bool:
    seal_and_tsa = loaded.description.startswith("development PKI") and isinstance(
        timestamper, DevelopmentTimeStamper
    )
    return seal_and_tsa and (issuing_ca is None or issuing_ca.development_pki is not None)


def _describe(loaded: LoadedKey, tsa_description: str, issuing_ca: IssuingCa | None) -> str:
    description = f"{loaded.description}; timestamps from {tsa_description}"
    if issuing_ca is not None:
        description += f"; signers' certificates from {issuing_ca.description}"
    return description


def _closing(loaded: LoadedKey, issuing_ca: IssuingCa | None) -> Callable[[], None]:
    def close() -> None:
        try:
            loaded.on_close()
        finally:
            if issuing_ca is not None:
                issuing_ca.close()

    return close


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
        to_asn1(dev.tsa.cert), dev.tsa.key, certs_to_embed=[to_asn1(dev.root.cert)]
    )
    return timestamper, dev, "the development TSA (not for production)"


def _development_pki(settings: Settings) -> devpki.DevelopmentPki:
    """The development PKI, with its signers CA when eIDAS advanced signatures use it (so that
    the seal, the TSA and the signers CA share one root certificate)."""
    try:
        return devpki.load_or_create(
            settings.pki_dir,
            settings.base_url,
            signers_ca=development_issuing_ca_in_use(settings),
        )
    except (OSError, ValueError) as error:
        raise SealConfigError(
            f"cannot create or read the development PKI under {settings.pki_dir} "
            f"(CACHET_DATA_DIR): {error}"
        ) from None


def _crl_source(
    dev: devpki.DevelopmentPki | None, issuing_ca: IssuingCa | None
) -> Callable[[], tuple[asn1_crl.CertificateList, ...]]:
    """The development root's CRL and the signers' CRL: both signed here, on demand."""
    if dev is None and issuing_ca is None:
        return _no_crls

    def current() -> tuple[asn1_crl.CertificateList, ...]:
        crls = []
        if dev is not None:
            der = dev.current_crl().public_bytes(serialization.Encoding.DER)
            crls.append(asn1_crl.CertificateList.load(der))
        if issuing_ca is not None:
            crls.append(issuing_ca.current_crl())
        return tuple(crls)

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


def _unique(certificates: Iterable[asn1_x509.Certificate]) -> list[asn1_x509.Certificate]:
    seen: set[bytes] = set()
    result = []
    for certificate in certificates:
        if certificate.sha256 not in seen:
            seen.add(certificate.sha256)
            result.append(certificate)
    return result
