"""Cachet's issuing CA: it issues each eIDAS advanced signature (CACHET_ADVANCED_SIGNER=local_ca)
a one-shot certificate in the verified person's name, and publishes the CRL of those certificates.

Its key comes from the `issuing_ca_*` settings -- PEM files, a PKCS#12 file or a PKCS#11 token,
at most one, loaded like the seal's (app.signing.key_sources) -- or, with none, in development,
from the development PKI's signers CA (refused in production). Mistakes raise
IssuingCaConfigError naming the setting to fix.

Certificates and CRLs are built with asn1crypto and signed through the key's pyHanko signer,
whatever holds the key: a key on a PKCS#11 token never leaves it, so cryptography's builders
(which sign with a private key object) cannot be used.

Trust: the root of the issuing CA's chain (its PEM bundle or chain file, or the PKCS#12 file's
certificates) is trusted like the seal's (app.signing.keys.load_seal adds it): by the B-LT and
B-LTA validation and by POST /v1/validations. Revocation: each certificate names
{base_url}/pki/signers.crl, which the service serves (app.api.pki) and which the signing workers
sign themselves when they embed it (the same CRL, without calling the service over HTTP).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from asn1crypto import algos
from asn1crypto import core as asn1_core
from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.signers import Signer, SimpleSigner

from app.clock import system_now
from app.config import Settings
from app.signing import devpki
from app.signing.key_sources import (
    CachedKeySigner,
    KeyConfigError,
    KeyRole,
    LoadedKey,
    chain_anchor,
    configured_source,
    load_configured_key,
    to_asn1,
)
from app.signing.signer_identity import VerifiedPerson

__all__ = [
    "CRL_PATH",
    "DEVELOPMENT_POLICY_OID",
    "ISSUING_CA_KEY",
    "IssuingCa",
    "IssuingCaConfigError",
    "development_issuing_ca_in_use",
    "load_issuing_ca",
]


class IssuingCaConfigError(KeyConfigError):
    """An issuing CA setting is missing, contradictory or unusable; the message names it."""


ISSUING_CA_KEY = KeyRole("issuing_ca", "issuing CA key source", IssuingCaConfigError)

CRL_PATH = "/pki/signers.crl"

DEVELOPMENT_POLICY_OID = "2.25.1590773304492714630437487934507231909.1"
"""The certificate policy of signers' certificates when CACHET_SIGNER_CERTIFICATE_POLICY_OID is
unset: arc 1 under Cachet's own UUID OID (ITU-T X.667, 2.25.<UUID 01325f2d-e75b-49a6-aa9a-
8266682aaaa5 as an integer>), which needs no registration. It names no published policy:
production sets the operator's own."""

DIGEST = "sha256"

BACKDATE = timedelta(minutes=1)
"""A certificate is valid from a minute before its issuance: a validator whose clock is a little
behind must not find it not yet valid."""

CRL_LIFETIME = timedelta(days=3)
CRL_REISSUE_AFTER = timedelta(hours=1)
"""The CRL handed out (served, or embedded by a worker) is at most an hour old, with days to
live: a validator that fetches it is not sent back for another at once."""


@dataclass
class _CrlCache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    current: asn1_crl.CertificateList | None = None


def _nothing_to_close() -> None:
    return None


@dataclass(frozen=True)
class IssuingCa:
    """The CA's key and certificate (its signer), the chain above it, and what goes into every
    certificate it issues. Safe to share between threads: signing mutates nothing, the CRL cache
    has its lock."""

    signer: Signer
    chain: tuple[asn1_x509.Certificate, ...]
    """Above the CA certificate, up to and including its root: what signers' CMS carry."""
    trust_anchor: asn1_x509.Certificate
    crl_url: str
    policy_oid: str
    certificate_lifetime: timedelta
    description: str
    development_pki: devpki.DevelopmentPki | None = None
    on_close: Callable[[], None] = field(default=_nothing_to_close)
    _crls: _CrlCache = field(default_factory=_CrlCache, repr=False, compare=False)

    @property
    def certificate(self) -> asn1_x509.Certificate:
        certificate = self.signer.signing_cert
        assert certificate is not None  # the loaders refuse a signer without one
        return certificate

    def issue(
        self, person: VerifiedPerson, public_key: asn1_keys.PublicKeyInfo, *, now: datetime
    ) -> asn1_x509.Certificate:
        """A certificate for `public_key` in `person`'s name, valid from a minute before `now`
        for the configured lifetime: a natural person's signing certificate (non-repudiation)."""
        algorithm = _signature_algorithm(self.signer)
        tbs = asn1_x509.TbsCertificate(
            {
                "version": "v3",
                "serial_number": _random_serial(),
                "signature": algorithm,
                "issuer": self.certificate.subject,
                "validity": {
                    "not_before": _time(now - BACKDATE),
                    "not_after": _time(now - BACKDATE + self.certificate_lifetime),
                },
                "subject": person_name(person),
                "subject_public_key_info": public_key,
                "extensions": self._signer_extensions(public_key),
            }
        )
        return asn1_x509.Certificate(
            {
                "tbs_certificate": tbs,
                "signature_algorithm": algorithm,
                "signature_value": _sign(self.signer, tbs.dump()),
            }
        )

    def _signer_extensions(self, public_key: asn1_keys.PublicKeyInfo) -> list[dict[str, object]]:
        return [
            _extension("basic_constraints", {"ca": False}, critical=True),
            _extension("key_usage", {"digital_signature", "non_repudiation"}, critical=True),
            _extension("certificate_policies", [{"policy_identifier": self.policy_oid}]),
            _extension("key_identifier", public_key.sha1),
            _extension("authority_key_identifier", {"key_identifier": self._key_identifier()}),
            _extension("crl_distribution_points", [_distribution_point(self.crl_url)]),
        ]

    def _key_identifier(self) -> bytes:
        identifier: bytes | None = self.certificate.key_identifier
        if identifier is None:  # a CA certificate without SKI: RFC 5280's method 1
            sha1: bytes = self.certificate.public_key.sha1
            return sha1
        return identifier

    def current_crl(self) -> asn1_crl.CertificateList:
        """The CRL of the certificates this CA issued, re-signed once an hour old. It lists
        none: a one-shot certificate's private key is destroyed right after its one signature,
        so there is nothing left that could be compromised and call for a revocation. Safe to
        call from any thread; blocking (the CA key signs)."""
        with self._crls.lock:
            now = system_now()
            current = self._crls.current
            if current is None or now - _this_update(current) >= CRL_REISSUE_AFTER:
                current = self._crls.current = self._sign_crl(now)
            return current

    def _sign_crl(self, now: datetime) -> asn1_crl.CertificateList:
        algorithm = _signature_algorithm(self.signer)
        tbs = asn1_crl.TbsCertList(
            {
                "version": "v2",
                "signature": algorithm,
                "issuer": self.certificate.subject,
                # Whole seconds, a minute back: NSS refuses fractions, and a validator whose
                # clock is a little behind must not find the list issued in the future.
                "this_update": _time(now - BACKDATE),
                "next_update": _time(now - BACKDATE + CRL_LIFETIME),
                "crl_extensions": [
                    _extension(
                        "authority_key_identifier", {"key_identifier": self._key_identifier()}
                    ),
                    # Increases with every list: milliseconds since the epoch.
                    _extension("crl_number", int(now.timestamp() * 1000)),
                ],
            }
        )
        return asn1_crl.CertificateList(
            {
                "tbs_cert_list": tbs,
                "signature_algorithm": algorithm,
                "signature": _sign(self.signer, tbs.dump()),
            }
        )

    def close(self) -> None:
        self.on_close()


# --- loading ----------------------------------------------------------------------------------


def development_issuing_ca_in_use(settings: Settings) -> bool:
    """Whether the settings leave eIDAS advanced signatures to the development PKI's signers CA
    (what production must refuse). An inconsistent configuration is not that: loading it names
    what to fix."""
    if settings.advanced_signer != "local_ca":
        return False
    try:
        return configured_source(settings, ISSUING_CA_KEY) is None
    except IssuingCaConfigError:
        return False


def load_issuing_ca(
    settings: Settings, development: devpki.DevelopmentPki | None = None
) -> IssuingCa:
    """The issuing CA the settings configure, or the development PKI's signers CA (`development`
    when the caller has it loaded with its signers CA, else loaded here). Blocking: file and
    token I/O. Raises IssuingCaConfigError on any configuration problem."""
    source = configured_source(settings, ISSUING_CA_KEY)
    if source is None:
        return _development_issuing_ca(settings, development)
    loaded = load_configured_key(settings, ISSUING_CA_KEY, source)
    try:
        return _assemble(settings, loaded, _certificate_setting(source))
    except BaseException:
        loaded.on_close()
        raise


def _development_issuing_ca(
    settings: Settings, development: devpki.DevelopmentPki | None
) -> IssuingCa:
    if not settings.is_development:
        raise IssuingCaConfigError(
            "production needs the issuing CA's key for eIDAS advanced signatures: set "
            "CACHET_ISSUING_CA_KEY_FILE and CACHET_ISSUING_CA_CERT_FILE, or "
            "CACHET_ISSUING_CA_PKCS12_FILE, or CACHET_ISSUING_CA_PKCS11_MODULE, or sign "
            "remotely with CACHET_ADVANCED_SIGNER=csc (the development PKI's signers CA is for "
            "development only)"
        )
    if development is None or development.signers_ca is None:
        development = development_pki_with_signers_ca(settings)
    identity = development.signers_ca
    assert identity is not None
    root = to_asn1(development.root.cert)
    signer = CachedKeySigner(to_asn1(identity.cert), identity.key, chain=[root])
    loaded = LoadedKey(signer, f"the development PKI's signers CA under {settings.pki_dir}")
    return _assemble(settings, loaded, "the development PKI", development)


def development_pki_with_signers_ca(settings: Settings) -> devpki.DevelopmentPki:
    try:
        return devpki.load_or_create(settings.pki_dir, settings.base_url, signers_ca=True)
    except (OSError, ValueError) as error:
        raise IssuingCaConfigError(
            f"cannot create or read the development PKI's signers CA under {settings.pki_dir} "
            f"(CACHET_DATA_DIR): {error}"
        ) from None


def _certificate_setting(source: str) -> str:
    """The setting that supplied the CA certificate, to name in a complaint about it."""
    suffix = {"PEM files": "cert_file", "PKCS#12": "pkcs12_file", "PKCS#11": "pkcs11_cert_label"}
    return ISSUING_CA_KEY.env(suffix[source])


def _assemble(
    settings: Settings,
    loaded: LoadedKey,
    certificate_source: str,
    development: devpki.DevelopmentPki | None = None,
) -> IssuingCa:
    certificate = loaded.signer.signing_cert
    assert certificate is not None
    _check_can_issue(certificate, certificate_source)
    anchor = chain_anchor(loaded.signer)
    if anchor is None:
        raise IssuingCaConfigError(
            "CACHET_ISSUING_CA_CHAIN_FILE: the issuing CA certificate's chain does not reach a "
            "root: add its intermediates and root (signers' certificates carry them, and the "
            "root is trusted for them)"
        )
    return IssuingCa(
        signer=loaded.signer,
        chain=tuple(_chain_above(certificate, list(loaded.signer.cert_registry))),
        trust_anchor=anchor,
        crl_url=settings.base_url + CRL_PATH,
        policy_oid=settings.signer_certificate_policy_oid or DEVELOPMENT_POLICY_OID,
        certificate_lifetime=timedelta(minutes=settings.signer_certificate_minutes),
        description=loaded.description,
        development_pki=development,
        on_close=loaded.on_close,
    )


def _check_can_issue(certificate: asn1_x509.Certificate, where: str) -> None:
    """A CA certificate whose key may sign certificates and CRLs, or a clear refusal."""
    name = certificate.subject.human_friendly
    if not certificate.ca:
        raise IssuingCaConfigError(f"{where}: {name!r} is not a CA certificate (basicConstraints)")
    usage = certificate.key_usage_value
    allowed = set(usage.native) if usage is not None else {"key_cert_sign", "crl_sign"}
    if not {"key_cert_sign", "crl_sign"} <= allowed:
        raise IssuingCaConfigError(
            f"{where}: the key usage of {name!r} must allow keyCertSign and cRLSign "
            "(signers' certificates and their CRL)"
        )


def _chain_above(
    certificate: asn1_x509.Certificate, carried: list[asn1_x509.Certificate]
) -> list[asn1_x509.Certificate]:
    """The certificates from the CA's issuer up to its root, in order, among those carried."""
    chain: list[asn1_x509.Certificate] = []
    current = certificate
    while current.self_signed == "no":
        issuer = next((c for c in carried if c.subject == current.issuer), None)
        if issuer is None or any(issuer.sha256 == c.sha256 for c in chain):
            break
        chain.append(issuer)
        current = issuer
    return chain


# --- the certificate --------------------------------------------------------------------------


def person_name(person: VerifiedPerson) -> asn1_x509.Name:
    """C (when known), givenName, surname, CN, and a serialNumber drawn at random.

    The serialNumber keeps two namesakes from getting the same subject name from this CA
    (RFC 5280 4.1.2.6; ETSI EN 319 412-2 4.2.4 asks for a name unique within the issuer). It is
    no identity number -- the identity check gives none -- and its "CACHET-" prefix cannot be
    read as an ETSI EN 319 412-1 semantics identifier ("PNOFR-...")."""
    attributes: list[tuple[str, str]] = []
    if person.country:
        attributes.append(("country_name", person.country.upper()))
    attributes += [
        ("given_name", person.given_name),
        ("surname", person.surname),
        ("common_name", person.common_name),
        ("serial_number", "CACHET-" + secrets.token_hex(10).upper()),
    ]
    return asn1_x509.Name(
        name="",
        value=asn1_x509.RDNSequence(
            [asn1_x509.RelativeDistinguishedName([_attribute(*item)]) for item in attributes]
        ),
    )


def _attribute(kind: str, value: str) -> asn1_x509.NameTypeAndValue:
    # RFC 5280: countryName and serialNumber are PrintableString; the rest UTF8String.
    encoding = "printable_string" if kind in {"country_name", "serial_number"} else "utf8_string"
    return asn1_x509.NameTypeAndValue(
        {"type": kind, "value": asn1_x509.DirectoryString(name=encoding, value=value)}
    )


def _random_serial() -> int:
    """159 random bits: positive, at most 20 octets in DER (RFC 5280 4.1.2.2), unguessable."""
    while True:
        serial = secrets.randbits(159)
        if serial:
            return serial


def _distribution_point(url: str) -> dict[str, object]:
    return {
        "distribution_point": asn1_x509.DistributionPointName(
            name="full_name",
            value=[asn1_x509.GeneralName(name="uniform_resource_identifier", value=url)],
        )
    }


def _extension(name: str, value: object, *, critical: bool = False) -> dict[str, object]:
    return {"extn_id": name, "critical": critical, "extn_value": value}


def _time(moment: datetime) -> asn1_x509.Time:
    """UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5), in whole seconds."""
    moment = moment.replace(microsecond=0)
    kind = "utc_time" if moment.year < 2050 else "general_time"
    return asn1_x509.Time(name=kind, value=moment)


def _this_update(crl: asn1_crl.CertificateList) -> datetime:
    moment: datetime = crl["tbs_cert_list"]["this_update"].native
    return moment


# --- signing with the CA key ------------------------------------------------------------------


def _signature_algorithm(signer: Signer) -> algos.SignedDigestAlgorithm:
    """The CA key's algorithm with SHA-256, as X.509 writes it (RSA: NULL parameters)."""
    mechanism = signer.get_signature_mechanism_for_digest(DIGEST)
    if mechanism["algorithm"].native == "sha256_rsa":
        return algos.SignedDigestAlgorithm(
            {"algorithm": "sha256_rsa", "parameters": asn1_core.Null()}
        )
    return mechanism


def _sign(signer: Signer, data: bytes) -> bytes:
    """The CA key's signature of `data`: directly for a key in memory; for a token, through
    pyHanko's signer, which is async only. The caller may be inside pyHanko's own event loop (a
    validation context asks for the CRL there), so that runs in a thread of its own."""
    if isinstance(signer, SimpleSigner):
        return signer.sign_raw(data, DIGEST)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="issuing-ca") as thread:
        signature: bytes = thread.submit(asyncio.run, signer.async_sign_raw(data, DIGEST)).result()
    return signature
