"""The platform seal: key sources, development PKI, timestamps, and signatures that validate.

Every signed PDF here is checked by pyHanko (bottom_line, trusted timestamp) and by poppler's
pdfsig. Keys come from real files, a real PKCS#12, a real SoftHSM2 token; timestamps from the
development TSA in process and from the certomancer TSA over HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import socket
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.x509 import ocsp
from fastapi import FastAPI
from pyhanko.keys.internal import translate_pyca_cryptography_key_to_asn1
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import process_pss_params

from app.config import Environment, Settings
from app.main import create_app
from app.runtime import Runtime
from app.signing.devpki import ROOT_NAME
from app.signing.keys import CachedKeySigner, Seal, SealConfigError, load_seal, platform_seal
from app.signing.pades import add_archive_timestamp
from app.signing.timestamping import DevelopmentTimeStamper
from tests.signing.ades import strict_ades_verdicts
from tests.signing.pdfsig import pdfsig_verdicts
from tests.signing.softhsm import Token
from tests.signing.testpki import TestPki
from tests.support import make_pdf

# --- helpers ---------------------------------------------------------------------------------


def seal_settings(data_dir: Path, **fields: Any) -> Settings:
    """Settings for load_seal alone (no database is touched): the seal without Cachet's issuing
    CA (advanced signatures at a remote provider), which test_issuing.py covers."""
    values: dict[str, Any] = {"env": Environment.development, "advanced_signer": "csc", **fields}
    return Settings(data_dir=data_dir, **values)


def sign_small_pdf(seal: Seal, target: Path, *, lta: bool = False) -> Path:
    """Sync pyHanko: B-T, or B-LTA with revocation info gathered through the seal's context."""
    meta = signers.PdfSignatureMetadata(
        field_name="Seal",
        subfilter=SigSeedSubFilter.PADES,
        reason="test",
        embed_validation_info=lta,
        validation_context=seal.validation_context() if lta else None,
        use_pades_lta=lta,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(make_pdf()))
    out = signers.sign_pdf(writer, meta, signer=seal.signer, timestamper=seal.timestamper)
    target.write_bytes(out.getvalue())
    return target


def assert_pyhanko_accepts(pdf: Path, seal: Seal) -> None:
    """bottom_line, a trusted signature timestamp, and every document timestamp trusted."""
    with pdf.open("rb") as handle:
        reader = PdfFileReader(handle)
        signature, *timestamps = reader.embedded_signatures
        status = validate_pdf_signature(
            signature, signer_validation_context=seal.validation_context()
        )
        assert status.bottom_line, status.summary()
        assert status.timestamp_validity is not None
        assert status.timestamp_validity.trusted, status.summary()
        for document_timestamp in timestamps:
            ts_status = validate_pdf_timestamp(
                document_timestamp, validation_context=seal.validation_context()
            )
            assert ts_status.valid and ts_status.intact and ts_status.trusted


def assert_pdfsig_accepts(pdf: Path, root_pem: Path, *, responder_up: bool = True) -> None:
    """poppler agrees: the seal signature verifies and NSS trusts its chain (OCSP asked). With
    the certificate's OCSP responder unreachable, NSS can only say it found nothing wrong."""
    verdicts = {verdict.field: verdict for verdict in pdfsig_verdicts(pdf, root_pem)}
    seal = verdicts["Seal"]
    assert seal.valid, seal.raw
    if responder_up:
        assert seal.certificate_trusted is True, seal.raw
    else:
        assert seal.certificate_trusted is not False, seal.raw


async def sign_and_check(
    seal: Seal, pdf: Path, root_pem: Path, *, lta: bool = False, responder_up: bool = True
) -> None:
    # In a worker thread like the service: sync pyHanko runs its own event loop there.
    await asyncio.to_thread(sign_small_pdf, seal, pdf, lta=lta)
    await asyncio.to_thread(assert_pyhanko_accepts, pdf, seal)
    assert_pdfsig_accepts(pdf, root_pem, responder_up=responder_up)


def ders(certificates: tuple[asn1_x509.Certificate, ...]) -> list[bytes]:
    """asn1crypto certificates compare by identity: compare their bytes."""
    return [c.dump() for c in certificates]


def seal_certificate(seal: Seal) -> asn1_x509.Certificate:
    certificate = seal.signer.signing_cert
    assert certificate is not None
    return certificate


def subject_of(certificate: asn1_x509.Certificate) -> str:
    common_name: str = certificate.subject.native["common_name"]
    return common_name


# --- development PKI ---------------------------------------------------------------------------


async def test_development_pki_is_created_once_then_reused(tmp_path: Path) -> None:
    settings = seal_settings(tmp_path)
    first = await asyncio.to_thread(load_seal, settings)
    second = await asyncio.to_thread(load_seal, settings)

    assert seal_certificate(first).dump() == seal_certificate(second).dump()
    assert ders(first.trust_roots) == ders(second.trust_roots)
    assert "development PKI" in first.source and "not for production" in first.source
    assert first.development_pki is not None
    assert sorted(p.name for p in settings.pki_dir.iterdir()) == [
        "root.cert.pem",
        "root.key.pem",
        "seal.cert.pem",
        "seal.key.pem",
        "tsa.cert.pem",
        "tsa.key.pem",
    ]


async def test_development_names_say_not_for_production(tmp_path: Path) -> None:
    seal = await asyncio.to_thread(load_seal, seal_settings(tmp_path))
    assert isinstance(seal.timestamper, DevelopmentTimeStamper)
    names = [
        subject_of(seal_certificate(seal)),
        subject_of(seal.timestamper.tsa_cert),
        *(subject_of(root) for root in seal.trust_roots),
    ]
    assert len(names) == 3
    assert all(name.endswith("- not for production") for name in names), names
    assert subject_of(seal.trust_roots[0]) == ROOT_NAME


async def test_development_keys_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    settings = seal_settings(tmp_path)
    await asyncio.to_thread(load_seal, settings)
    assert stat.S_IMODE(settings.pki_dir.stat().st_mode) == 0o700
    for key_file in settings.pki_dir.glob("*.key.pem"):
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600, key_file


def revocation_urls(certificate: asn1_x509.Certificate) -> tuple[list[str], list[str]]:
    """(CRL distribution points, OCSP responders) the certificate names."""
    cert = x509.load_der_x509_certificate(certificate.dump())
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    return (
        [name.value for point in points for name in point.full_name or []],
        [item.access_location.value for item in access],
    )


async def test_development_certificates_point_at_the_service_crl_and_ocsp(tmp_path: Path) -> None:
    settings = seal_settings(tmp_path, public_url="https://cachet.example.test")
    seal = await asyncio.to_thread(load_seal, settings)
    assert isinstance(seal.timestamper, DevelopmentTimeStamper)
    for certificate in (seal_certificate(seal), seal.timestamper.tsa_cert):
        assert revocation_urls(certificate) == (
            ["https://cachet.example.test/pki/root.crl"],
            ["https://cachet.example.test/pki/ocsp"],
        )


async def test_an_existing_pki_gets_leaf_certificates_for_the_running_service(
    tmp_path: Path,
) -> None:
    """A PKI made for another base URL, or before its certificates named an OCSP responder,
    keeps its root and keys; its seal and TSA certificates are reissued, once."""
    first = await asyncio.to_thread(
        load_seal, seal_settings(tmp_path, public_url="http://old.example.test")
    )
    pki = first.development_pki
    assert pki is not None
    # As an earlier version left it: a seal certificate with a CRL but no OCSP responder.
    old_seal = (
        x509.CertificateBuilder()
        .subject_name(pki.seal.cert.subject)
        .issuer_name(pki.root.cert.subject)
        .public_key(pki.seal.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(pki.seal.cert.not_valid_before_utc)
        .not_valid_after(pki.seal.cert.not_valid_after_utc)
        .add_extension(
            pki.seal.cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value,
            critical=False,
        )
        .sign(pki.root.key, hashes.SHA256())
    )
    (pki.directory / "seal.cert.pem").write_bytes(old_seal.public_bytes(serialization.Encoding.PEM))

    settings = seal_settings(tmp_path, public_url="http://new.example.test")
    second = await asyncio.to_thread(load_seal, settings)
    third = await asyncio.to_thread(load_seal, settings)

    assert ders(second.trust_roots) == ders(first.trust_roots)  # the same root
    assert isinstance(second.timestamper, DevelopmentTimeStamper)
    for certificate in (seal_certificate(second), second.timestamper.tsa_cert):
        assert revocation_urls(certificate) == (
            ["http://new.example.test/pki/root.crl"],
            ["http://new.example.test/pki/ocsp"],
        )
    new_key = seal_certificate(second).public_key.dump()
    assert new_key == seal_certificate(first).public_key.dump()  # the same key
    assert seal_certificate(third).dump() == seal_certificate(second).dump()  # reissued once


async def test_development_seal_signs_b_lta_without_network(tmp_path: Path) -> None:
    """The certificates' CRL URL (base_url, port 8000) has no server: the known CRL is used."""
    settings = seal_settings(tmp_path / "data", port=9)  # discard port: nothing answers there
    seal = await asyncio.to_thread(load_seal, settings)
    assert seal.development_pki is not None
    assert not seal.allow_fetching
    root_pem = tmp_path / "dev-root.pem"
    root_pem.write_bytes(seal.development_pki.root_pem)
    pdf = tmp_path / "dev-lta.pdf"
    await sign_and_check(seal, pdf, root_pem, lta=True, responder_up=False)
    with pdf.open("rb") as handle:
        reader = PdfFileReader(handle)
        assert len(reader.embedded_signatures) == 2  # signature + document timestamp
        assert "/DSS" in reader.root  # revocation info embedded (B-LT)


async def test_production_refuses_the_development_pki(tmp_path: Path) -> None:
    settings = seal_settings(tmp_path, env=Environment.production, tsa_url="http://tsa.test")
    with pytest.raises(SealConfigError, match="CACHET_SIGNING_KEY_FILE"):
        load_seal(settings)
    assert not settings.pki_dir.exists()


# --- PEM and PKCS#12 ---------------------------------------------------------------------------


def pem_settings(test_pki: TestPki, data_dir: Path, **fields: Any) -> Settings:
    values: dict[str, Any] = {
        "signing_key_file": test_pki.seal_key_pem,
        "signing_cert_file": test_pki.seal_cert_pem,
        "signing_chain_file": test_pki.chain_pem,
        **fields,
    }
    return seal_settings(data_dir, **values)


async def test_pem_files_with_the_certomancer_tsa(test_pki: TestPki, tmp_path: Path) -> None:
    settings = pem_settings(test_pki, tmp_path, tsa_url=test_pki.tsa_url)
    seal = await asyncio.to_thread(load_seal, settings)

    assert subject_of(seal_certificate(seal)) == "Cachet Test Seal"
    assert ders(seal.trust_roots) == [test_pki.root.dump()]
    assert seal.development_pki is None
    assert not settings.pki_dir.exists()  # a configured key never creates the development PKI
    assert test_pki.tsa_url in seal.source
    await sign_and_check(seal, tmp_path / "pem.pdf", test_pki.root_pem, lta=True)


async def test_pkcs12_file(test_pki: TestPki, tmp_path: Path) -> None:
    settings = seal_settings(
        tmp_path,
        signing_pkcs12_file=test_pki.seal_p12,
        signing_pkcs12_password=test_pki.p12_password,
        tsa_url=test_pki.tsa_url,
    )
    seal = await asyncio.to_thread(load_seal, settings)
    assert subject_of(seal_certificate(seal)) == "Cachet Test Seal"
    assert ders(seal.trust_roots) == [test_pki.root.dump()]  # the chain came from the PKCS#12 file
    await sign_and_check(seal, tmp_path / "p12.pdf", test_pki.root_pem)


def test_pkcs12_wrong_password_names_the_setting(test_pki: TestPki, tmp_path: Path) -> None:
    settings = seal_settings(
        tmp_path, signing_pkcs12_file=test_pki.seal_p12, signing_pkcs12_password="nope"
    )
    with pytest.raises(SealConfigError, match="CACHET_SIGNING_PKCS12_PASSWORD") as caught:
        load_seal(settings)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def encrypted_copy(test_pki: TestPki, target: Path, password: bytes) -> Path:
    key = serialization.load_pem_private_key(test_pki.seal_key_pem.read_bytes(), password=None)
    target.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
    )
    return target


def test_encrypted_pem_key_needs_the_right_password(test_pki: TestPki, tmp_path: Path) -> None:
    key_file = encrypted_copy(test_pki, tmp_path / "seal.enc.pem", b"right")
    base = {"signing_key_file": key_file, "tsa_url": test_pki.tsa_url}

    def attempt(**password: str) -> Seal:
        settings = pem_settings(test_pki, tmp_path, **password)
        return load_seal(settings.model_copy(update=base))

    with pytest.raises(SealConfigError, match="CACHET_SIGNING_KEY_PASSWORD is required"):
        attempt()
    with pytest.raises(SealConfigError, match="CACHET_SIGNING_KEY_PASSWORD: wrong password"):
        attempt(signing_key_password="wrong")
    seal = attempt(signing_key_password="right")
    assert subject_of(seal_certificate(seal)) == "Cachet Test Seal"


def test_two_key_sources_are_refused_naming_both(test_pki: TestPki, tmp_path: Path) -> None:
    settings = pem_settings(
        test_pki, tmp_path, signing_pkcs12_file=test_pki.seal_p12, tsa_url=test_pki.tsa_url
    )
    with pytest.raises(SealConfigError) as caught:
        load_seal(settings)
    message = str(caught.value)
    assert "CACHET_SIGNING_KEY_FILE" in message and "CACHET_SIGNING_PKCS12_FILE" in message


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"signing_key_file": Path("/nonexistent/seal.key")}, "CACHET_SIGNING_KEY_FILE: cannot"),
        ({"signing_cert_file": None}, "CACHET_SIGNING_CERT_FILE is required"),
        ({"signing_chain_file": Path("/nonexistent/chain.pem")}, "CACHET_SIGNING_CHAIN_FILE"),
        ({"signing_chain_file": None}, "CACHET_SIGNING_CHAIN_FILE"),  # no root to trust
        ({"trust_roots_file": Path("/nonexistent/roots.pem")}, "CACHET_TRUST_ROOTS_FILE"),
    ],
)
def test_unusable_pem_settings_name_the_setting(
    test_pki: TestPki, tmp_path: Path, fields: dict[str, Any], expected: str
) -> None:
    settings = pem_settings(test_pki, tmp_path, tsa_url=test_pki.tsa_url)
    with pytest.raises(SealConfigError, match=expected):
        load_seal(settings.model_copy(update=fields))


def test_a_certificate_of_another_key_is_refused(test_pki: TestPki, tmp_path: Path) -> None:
    other = tmp_path / "tsa.cert.pem"
    other.write_bytes(
        x509.load_der_x509_certificate(test_pki.tsa_cert.dump()).public_bytes(
            serialization.Encoding.PEM
        )
    )
    settings = pem_settings(test_pki, tmp_path, signing_cert_file=other, tsa_url="http://x")
    with pytest.raises(SealConfigError, match="not the certificate of the key"):
        load_seal(settings)


def test_trust_roots_file_adds_roots(test_pki: TestPki, tmp_path: Path) -> None:
    settings = seal_settings(tmp_path, trust_roots_file=test_pki.root_pem)
    seal = load_seal(settings)  # development PKI + the test root
    assert test_pki.root.dump() in ders(seal.trust_roots)
    assert len(seal.trust_roots) == 2


# --- timestamps --------------------------------------------------------------------------------


def test_production_requires_a_tsa_url(test_pki: TestPki, tmp_path: Path) -> None:
    settings = pem_settings(test_pki, tmp_path, env=Environment.production)
    with pytest.raises(SealConfigError, match="CACHET_TSA_URL is required in production"):
        load_seal(settings)


async def test_real_key_without_tsa_url_uses_the_development_tsa_in_development(
    test_pki: TestPki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = pem_settings(test_pki, tmp_path)
    with caplog.at_level(logging.WARNING, logger="cachet.signing"):
        seal = await asyncio.to_thread(load_seal, settings)
    assert "CACHET_TSA_URL is not set" in caplog.text
    assert isinstance(seal.timestamper, DevelopmentTimeStamper)
    assert seal.development_pki is not None  # its CRL must be served for the TSA certificate
    assert seal.trust_roots[0].dump() == test_pki.root.dump() and len(seal.trust_roots) == 2
    await sign_and_check(seal, tmp_path / "mixed.pdf", test_pki.root_pem)


async def test_certomancer_http_tsa_timestamp_is_trusted(test_pki: TestPki, tmp_path: Path) -> None:
    seal = test_pki.seal()
    pdf = await asyncio.to_thread(sign_small_pdf, seal, tmp_path / "bt.pdf")
    with pdf.open("rb") as handle:
        signature = PdfFileReader(handle).embedded_signatures[0]
        status = await asyncio.to_thread(
            validate_pdf_signature, signature, signer_validation_context=seal.validation_context()
        )
    assert status.bottom_line
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    assert subject_of(status.timestamp_validity.signing_cert) == "Cachet Test TSA"
    assert_pdfsig_accepts(pdf, test_pki.root_pem)


async def test_test_pki_seal_signs_b_lta_with_the_animator_tsa_ocsp_and_crl(
    test_pki: TestPki, tmp_path: Path
) -> None:
    await sign_and_check(test_pki.seal(), tmp_path / "lta.pdf", test_pki.root_pem, lta=True)


# --- the cached-key signer ---------------------------------------------------------------------


@pytest.mark.parametrize("prefer_pss", [False, True])
def test_cached_rsa_key_signs_like_pyhanko(test_pki: TestPki, prefer_pss: bool) -> None:
    key = serialization.load_pem_private_key(test_pki.seal_key_pem.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    cached = CachedKeySigner(test_pki.seal_cert, key, prefer_pss=prefer_pss)
    plain = signers.SimpleSigner(
        signing_cert=test_pki.seal_cert,
        signing_key=translate_pyca_cryptography_key_to_asn1(key),
        cert_registry=SimpleCertificateStore.from_certs([]),  # type: ignore[no-untyped-call]
        prefer_pss=prefer_pss,
    )
    data = b"to be signed"
    signature = cached.sign_raw(data, "sha256")
    if prefer_pss:  # randomised: check it verifies under the mechanism's own parameters
        mechanism = cached.get_signature_mechanism_for_digest("sha256")
        assert mechanism.signature_algo == "rsassa_pss"
        pss_padding, hash_algorithm = process_pss_params(mechanism["parameters"])
        key.public_key().verify(signature, data, pss_padding, hash_algorithm)
    else:  # PKCS#1 v1.5 is deterministic: byte for byte what pyHanko produces
        assert signature == plain.sign_raw(data, "sha256")


def test_cached_ec_key_signature_verifies(test_pki: TestPki) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(x509.Name([]))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.now(UTC))
        .not_valid_after(datetime.now(UTC) + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    signer = CachedKeySigner(
        asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)), key
    )
    signature = signer.sign_raw(b"payload", "sha256")
    key.public_key().verify(signature, b"payload", ec.ECDSA(hashes.SHA256()))


# --- PKCS#11 on SoftHSM2 -----------------------------------------------------------------------


def pkcs11_settings(token: Token, test_pki: TestPki, data_dir: Path, **fields: Any) -> Settings:
    values: dict[str, Any] = {
        "signing_pkcs11_module": token.module,
        "signing_pkcs11_token_label": token.label,
        "signing_pkcs11_pin": token.pin,
        "signing_pkcs11_key_label": "seal",
        "signing_chain_file": test_pki.chain_pem,
        "tsa_url": test_pki.tsa_url,
        **fields,
    }
    return seal_settings(data_dir, **values)


async def test_pkcs11_softhsm_seal_signs_and_validates(
    softhsm_token: Token, test_pki: TestPki, tmp_path: Path
) -> None:
    seal = await asyncio.to_thread(load_seal, pkcs11_settings(softhsm_token, test_pki, tmp_path))
    try:
        assert "PKCS#11" in seal.source
        assert subject_of(seal_certificate(seal)) == "Cachet Test Seal"
        assert ders(seal.trust_roots) == [test_pki.root.dump()]
        await sign_and_check(seal, tmp_path / "hsm.pdf", test_pki.root_pem, lta=True)
    finally:
        seal.close()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"signing_pkcs11_pin": "0000"}, "CACHET_SIGNING_PKCS11_PIN"),
        ({"signing_pkcs11_token_label": "nope"}, "CACHET_SIGNING_PKCS11_TOKEN_LABEL"),
        ({"signing_pkcs11_key_label": "absent"}, "CACHET_SIGNING_PKCS11_KEY_LABEL"),
        ({"signing_pkcs11_module": Path("/nonexistent/p11.so")}, "CACHET_SIGNING_PKCS11_MODULE"),
        ({"signing_pkcs11_key_label": None}, "CACHET_SIGNING_PKCS11_KEY_LABEL is required"),
    ],
)
def test_pkcs11_mistakes_name_the_setting(
    softhsm_token: Token, test_pki: TestPki, tmp_path: Path, fields: dict[str, Any], expected: str
) -> None:
    with pytest.raises(SealConfigError, match=expected):
        load_seal(pkcs11_settings(softhsm_token, test_pki, tmp_path, **fields))


# --- /pki routes ---------------------------------------------------------------------------------


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[str, Runtime]]:
    """An app of its own (the session app's seal is the test PKI's) behind a real uvicorn, its
    public URL the one it listens on (the development certificates name it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    own = {"run_jobs": False, "public_url": f"http://127.0.0.1:{port}"}
    app: FastAPI = create_app(settings.model_copy(update=own))
    async with app.router.lifespan_context(app):
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110  (uvicorn offers no start event)
            await asyncio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}", app.state.runtime
        finally:
            server.should_exit = True
            await task


def development_settings(settings: Settings, data_dir: Path) -> Settings:
    """No key configured, the seal's nor the issuing CA's: the development PKI does it all."""
    no_key = dict.fromkeys(
        (
            "signing_key_file",
            "signing_cert_file",
            "signing_chain_file",
            "signing_pkcs12_file",
            "signing_pkcs11_module",
            "tsa_url",
            "issuing_ca_key_file",
            "issuing_ca_cert_file",
            "issuing_ca_chain_file",
            "issuing_ca_pkcs12_file",
            "issuing_ca_pkcs11_module",
        )
    )
    return settings.model_copy(update={**no_key, "data_dir": data_dir})


async def test_root_crl_is_fresh_and_signed_by_the_development_root(
    settings: Settings, tmp_path: Path
) -> None:
    async with (
        serving(development_settings(settings, tmp_path)) as (url, runtime),
        httpx.AsyncClient(base_url=url) as client,
    ):
        crl_response = await client.get("/pki/root.crl")
        root_response = await client.get("/pki/root.pem")
    assert crl_response.status_code == 200, crl_response.text
    assert crl_response.headers["content-type"] == "application/pkix-crl"
    assert root_response.status_code == 200
    crl = x509.load_der_x509_crl(crl_response.content)
    root = x509.load_pem_x509_certificate(root_response.content)

    development_pki = platform_seal(runtime.seal).development_pki
    assert development_pki is not None
    assert root_response.content == development_pki.root_pem
    assert crl.issuer == root.subject
    assert crl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    assert crl.next_update_utc is not None
    assert crl.next_update_utc - datetime.now(UTC) > timedelta(days=6)
    assert len(crl) == 0


async def test_development_pki_archives_without_network_and_answers_ocsp(
    settings: Settings, test_pki: TestPki, tmp_path: Path
) -> None:
    """The service's own responder: pdfsig asks it (the certificates name it), and archiving
    embeds its answers without calling it."""
    async with (
        serving(development_settings(settings, tmp_path)) as (url, runtime),
        httpx.AsyncClient(base_url=url) as client,
    ):
        seal = platform_seal(runtime.seal)
        pki = seal.development_pki
        assert pki is not None and not seal.allow_fetching
        signed, archived = tmp_path / "dev-bt.pdf", tmp_path / "dev-archived.pdf"
        await asyncio.to_thread(sign_small_pdf, seal, signed)
        await asyncio.to_thread(add_archive_timestamp, signed, archived, seal)
        verdicts = await strict_ades_verdicts(archived, seal.trust_roots)
        assert [v.passed for v in verdicts] == [True], verdicts
        root_pem = tmp_path / "dev-root.pem"
        root_pem.write_bytes(pki.root_pem)
        await asyncio.to_thread(assert_pdfsig_accepts, archived, root_pem)

        question = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(pki.seal.cert, pki.root.cert, hashes.SHA1())
            .add_extension(x509.OCSPNonce(b"n" * 16), critical=False)
            .build()
            .public_bytes(serialization.Encoding.DER)
        )
        by_post = await client.post(
            "/pki/ocsp", content=question, headers={"Content-Type": "application/ocsp-request"}
        )
        by_get = await client.get("/pki/ocsp/" + quote(base64.b64encode(question).decode(), ""))
        for response in (by_post, by_get):
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "application/ocsp-response"
            answer = ocsp.load_der_ocsp_response(response.content)
            assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
            assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD
            assert answer.serial_number == pki.seal.cert.serial_number
            nonce = answer.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
            assert nonce == b"n" * 16
            pki.root.key.public_key().verify(
                answer.signature, answer.tbs_response_bytes, PKCS1v15(), hashes.SHA256()
            )

        someone_else = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(
                x509.load_pem_x509_certificate(test_pki.seal_cert_pem.read_bytes()),
                x509.load_der_x509_certificate(test_pki.intermediate.dump()),
                hashes.SHA1(),
            )
            .build()
            .public_bytes(serialization.Encoding.DER)
        )
        refused = await client.post("/pki/ocsp", content=someone_else)
        assert refused.status_code == 200
        status = ocsp.load_der_ocsp_response(refused.content).response_status
        assert status is ocsp.OCSPResponseStatus.UNAUTHORIZED
        for garbage in (client.post("/pki/ocsp", content=b"not ocsp"), client.get("/pki/ocsp/%%")):
            malformed = await garbage
            assert malformed.status_code == 400, malformed.text
            assert malformed.json()["code"] == "malformed_ocsp_request"


async def test_pki_routes_answer_404_when_a_real_key_is_configured(
    settings: Settings, test_pki: TestPki, tmp_path: Path
) -> None:
    real_key = development_settings(settings, tmp_path).model_copy(
        update={
            "signing_key_file": test_pki.seal_key_pem,
            "signing_cert_file": test_pki.seal_cert_pem,
            "signing_chain_file": test_pki.chain_pem,
            "tsa_url": test_pki.tsa_url,
            **test_pki.issuing_ca_settings(),
        }
    )
    async with serving(real_key) as (url, runtime), httpx.AsyncClient(base_url=url) as client:
        assert platform_seal(runtime.seal).development_pki is None
        for path in ("/pki/root.crl", "/pki/root.pem", "/pki/ocsp/MAA="):
            response = await client.get(path)
            assert response.status_code == 404, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["type"].endswith("development_pki_not_found")
    assert not (tmp_path / "pki").exists()
