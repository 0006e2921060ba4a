"""Cachet's issuing CA: where its key comes from, the development PKI's signers CA, the mistakes
it names, production's refusal, and GET /pki/signers.crl."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.config import Environment, Settings
from app.production import production_problems
from app.signing import devpki
from app.signing.issuing import IssuingCaConfigError, development_issuing_ca_in_use
from app.signing.keys import Seal, load_seal, platform_seal
from app.signing.pades import add_archive_timestamp
from app.signing.validation import validate_pdf
from tests.signing.ades import offline_hard_fail_verdicts, strict_ades_verdicts
from tests.signing.pdfsig import pdfsig_verdicts
from tests.signing.softhsm import Token
from tests.signing.test_keys import development_settings, serving
from tests.signing.test_one_shot import (
    pkcs11_issuing_ca,
    pkcs12_issuing_ca,
    settings_for,
    sign_b_lt,
)
from tests.signing.testpki import TestPki


def development(data_dir: Path, **fields: Any) -> Settings:
    """Nothing configured: the development PKI's seal, TSA and signers CA. Port 9 (discard):
    nothing answers at the URLs the certificates name, so nothing may need fetching."""
    values: dict[str, Any] = {"env": Environment.development, "port": 9, **fields}
    return Settings(data_dir=data_dir, **values)


def cert(data: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(data)


# --- the development PKI's signers CA ------------------------------------------------------------


async def test_development_signers_ca_is_a_ca_under_the_development_root(tmp_path: Path) -> None:
    settings = development(tmp_path)
    seal = await asyncio.to_thread(load_seal, settings)
    pki, issuing_ca = seal.development_pki, seal.issuing_ca
    assert pki is not None and issuing_ca is not None and pki.signers_ca is not None
    assert issuing_ca.development_pki is pki
    signers = cert(issuing_ca.certificate.dump())

    assert signers.subject.rfc4514_string().startswith(f"CN={devpki.SIGNERS_CA_NAME}")
    assert signers.issuer == pki.root.cert.subject
    signers.verify_directly_issued_by(pki.root.cert)
    constraints = signers.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = signers.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    root_constraints = pki.root.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert root_constraints.value.path_length == 1  # one CA may stand below the root
    # One root for the seal, the TSA and the signers: trusted once.
    assert [root.dump() for root in seal.trust_roots] == [
        pki.root.cert.public_bytes(serialization.Encoding.DER)
    ]
    assert not seal.allow_fetching  # everything is known: nothing to fetch from the service
    assert "signers CA" in seal.source
    files = sorted(path.name for path in settings.pki_dir.iterdir())
    assert "signers.key.pem" in files and "signers.cert.pem" in files
    assert (settings.pki_dir / "signers.key.pem").stat().st_mode & 0o777 == 0o600


async def test_development_one_shot_signature_validates_offline_and_in_pdfsig(
    tmp_path: Path,
) -> None:
    settings = development(tmp_path / "data")
    seal = await asyncio.to_thread(load_seal, settings)
    assert seal.development_pki is not None
    signed = await asyncio.to_thread(sign_b_lt, seal, settings, tmp_path)
    archived = tmp_path / "archived.pdf"
    await asyncio.to_thread(add_archive_timestamp, signed.pdf, archived, seal)

    verdicts = await strict_ades_verdicts(archived, seal.trust_roots)
    assert [v.passed for v in verdicts] == [True], verdicts
    root_pem = tmp_path / "dev-root.pem"
    root_pem.write_bytes(seal.development_pki.root_pem)
    reported = await asyncio.to_thread(pdfsig_verdicts, archived, root_pem)
    (verdict,) = [v for v in reported if v.field == "Signer1"]
    assert verdict.valid, verdict.raw
    # Its CA names the service's OCSP responder, which nothing answers here (port 9).
    assert verdict.certificate_trusted is not False, verdict.raw
    report = await asyncio.to_thread(
        validate_pdf, archived, seal.trust_roots, now=datetime.now(UTC), revocation="hard"
    )
    assert report.verdict == "passed", report.reasons


async def test_signers_ca_is_reissued_for_another_base_url_with_the_same_key(
    tmp_path: Path,
) -> None:
    first = await asyncio.to_thread(load_seal, development(tmp_path, public_url="http://old.test"))
    second = await asyncio.to_thread(load_seal, development(tmp_path, public_url="http://new.test"))
    third = await asyncio.to_thread(load_seal, development(tmp_path, public_url="http://new.test"))
    assert first.issuing_ca is not None and second.issuing_ca is not None
    assert third.issuing_ca is not None
    old, new = cert(first.issuing_ca.certificate.dump()), cert(second.issuing_ca.certificate.dump())
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert old.public_key().public_bytes(*spki) == new.public_key().public_bytes(*spki)
    points = new.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [n.value for p in points for n in p.full_name or ()] == ["http://new.test/pki/root.crl"]
    assert third.issuing_ca.certificate.dump() == second.issuing_ca.certificate.dump()
    assert second.issuing_ca.crl_url == "http://new.test/pki/signers.crl"


async def test_a_root_that_forbids_a_ca_below_it_is_reissued(tmp_path: Path) -> None:
    """A development PKI from before the signers CA: its root said path length 0, which NSS
    enforces. Same key and name, new serial number, path length 1; the seal still chains."""
    before = await asyncio.to_thread(load_seal, development(tmp_path, advanced_signer="csc"))
    pki = before.development_pki
    assert pki is not None and pki.signers_ca is None
    old_root = _with_path_length_zero(pki.root)
    (pki.directory / "root.cert.pem").write_bytes(old_root.public_bytes(serialization.Encoding.PEM))

    seal = await asyncio.to_thread(load_seal, development(tmp_path))
    assert seal.development_pki is not None
    root = seal.development_pki.root.cert
    assert root.subject == old_root.subject and root.serial_number != old_root.serial_number
    assert root.public_key() == old_root.public_key()
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    assert root.not_valid_before_utc == old_root.not_valid_before_utc
    seal.development_pki.seal.cert.verify_directly_issued_by(root)
    assert (pki.directory / "root.cert.pem").read_bytes() == root.public_bytes(
        serialization.Encoding.PEM
    )


def _with_path_length_zero(root: devpki.Identity) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(root.cert.subject)
        .issuer_name(root.cert.subject)
        .public_key(root.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(root.cert.not_valid_before_utc)
        .not_valid_after(root.cert.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    )
    return builder.sign(root.key, hashes.SHA256())


# --- mistakes ------------------------------------------------------------------------------------


def test_two_issuing_ca_sources_are_refused_naming_both(test_pki: TestPki, tmp_path: Path) -> None:
    issuing_ca = {**test_pki.issuing_ca_settings(), **pkcs12_issuing_ca(test_pki)}
    with pytest.raises(IssuingCaConfigError) as caught:
        load_seal(settings_for(test_pki, tmp_path, **issuing_ca))
    message = str(caught.value)
    assert "configure one issuing CA key source, not 2" in message
    assert "CACHET_ISSUING_CA_KEY_FILE" in message
    assert "CACHET_ISSUING_CA_PKCS12_FILE" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"issuing_ca_cert_file": None}, "CACHET_ISSUING_CA_CERT_FILE is required with"),
        (
            {"issuing_ca_key_file": Path("/nonexistent/ca.key")},
            "CACHET_ISSUING_CA_KEY_FILE: cannot",
        ),
        ({"issuing_ca_chain_file": None}, "CACHET_ISSUING_CA_CHAIN_FILE: the issuing CA"),
        ({"issuing_ca_chain_file": Path("/nonexistent/chain.pem")}, "CACHET_ISSUING_CA_CHAIN_FILE"),
    ],
)
def test_unusable_issuing_ca_files_name_the_setting(
    test_pki: TestPki, tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    issuing_ca = {**test_pki.issuing_ca_settings(), **change}
    with pytest.raises(IssuingCaConfigError, match=expected):
        load_seal(settings_for(test_pki, tmp_path, **issuing_ca))


def test_a_certificate_that_is_no_ca_is_refused(test_pki: TestPki, tmp_path: Path) -> None:
    the_seals = {
        "issuing_ca_key_file": test_pki.seal_key_pem,
        "issuing_ca_cert_file": test_pki.seal_cert_pem,
        "issuing_ca_chain_file": test_pki.chain_pem,
    }
    with pytest.raises(IssuingCaConfigError, match=r"CACHET_ISSUING_CA_CERT_FILE: .* is not a CA"):
        load_seal(settings_for(test_pki, tmp_path, **the_seals))


def test_a_wrong_pkcs12_password_names_the_setting(test_pki: TestPki, tmp_path: Path) -> None:
    issuing_ca = {**pkcs12_issuing_ca(test_pki), "issuing_ca_pkcs12_password": "nope"}
    with pytest.raises(IssuingCaConfigError, match="CACHET_ISSUING_CA_PKCS12_PASSWORD"):
        load_seal(settings_for(test_pki, tmp_path, **issuing_ca))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"issuing_ca_pkcs11_pin": "0000"}, "CACHET_ISSUING_CA_PKCS11_PIN"),
        ({"issuing_ca_pkcs11_key_label": "absent"}, "CACHET_ISSUING_CA_PKCS11_KEY_LABEL"),
        ({"issuing_ca_pkcs11_key_label": None}, "CACHET_ISSUING_CA_PKCS11_KEY_LABEL is required"),
    ],
)
def test_pkcs11_mistakes_name_the_setting(
    softhsm_token: Token, test_pki: TestPki, tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    issuing_ca = {**pkcs11_issuing_ca(softhsm_token, test_pki), **change}
    with pytest.raises(IssuingCaConfigError, match=expected):
        load_seal(settings_for(test_pki, tmp_path, **issuing_ca))


# --- production ----------------------------------------------------------------------------------


def test_production_refuses_the_development_signers_ca(test_pki: TestPki, tmp_path: Path) -> None:
    settings = settings_for(test_pki, tmp_path, issuing_ca_key_file=None).model_copy(
        update={"env": Environment.production, "issuing_ca_cert_file": None}
    )
    assert development_issuing_ca_in_use(settings)
    with pytest.raises(IssuingCaConfigError, match=r"CACHET_ISSUING_CA_KEY_FILE.*csc"):
        load_seal(settings)
    assert not settings.pki_dir.exists()
    problems = production_problems(settings)
    assert any("CACHET_ISSUING_CA_KEY_FILE" in problem for problem in problems), problems

    remote = settings.model_copy(update={"advanced_signer": "csc"})
    assert not development_issuing_ca_in_use(remote)
    assert not any("ISSUING_CA" in problem for problem in production_problems(remote))
    configured = settings_for(test_pki, tmp_path).model_copy(update={"env": Environment.production})
    assert not development_issuing_ca_in_use(configured)


# --- GET /pki/signers.crl ------------------------------------------------------------------------


async def test_signers_crl_is_served_and_signed_by_the_issuing_ca(
    base_url: str, runtime: Any, test_pki: TestPki
) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get("/pki/signers.crl")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pkix-crl"
    assert "max-age" in response.headers["cache-control"]
    crl = x509.load_der_x509_crl(response.content)
    intermediate = cert(test_pki.intermediate.dump())
    assert crl.issuer == intermediate.subject
    intermediate_key = intermediate.public_key()
    assert isinstance(intermediate_key, rsa.RSAPublicKey)
    assert crl.is_signature_valid(intermediate_key)
    assert len(crl) == 0
    assert crl.next_update_utc is not None
    assert crl.next_update_utc - datetime.now(UTC) > timedelta(days=2)
    assert crl.last_update_utc <= datetime.now(UTC)
    seal: Seal = platform_seal(runtime.seal)
    assert seal.issuing_ca is not None
    assert seal.issuing_ca.current_crl().dump() == response.content  # kept, not re-signed


async def test_signers_crl_is_404_when_advanced_signatures_are_remote(
    settings: Settings, tmp_path: Path
) -> None:
    remote = development_settings(settings, tmp_path).model_copy(update={"advanced_signer": "csc"})
    async with serving(remote) as (url, runtime), httpx.AsyncClient(base_url=url) as client:
        assert platform_seal(runtime.seal).issuing_ca is None
        response = await client.get("/pki/signers.crl")
    assert response.status_code == 404, response.text
    assert response.json()["type"].endswith("issuing_ca_not_found")


async def test_a_development_service_serves_both_crls_and_its_signers_validate(
    settings: Settings, tmp_path: Path
) -> None:
    """Development with nothing configured: the service serves the signers CRL and the root's,
    and the development signers CA's certificates pass offline with what the file holds."""
    async with (
        serving(development_settings(settings, tmp_path / "data")) as (url, runtime),
        httpx.AsyncClient(base_url=url) as client,
    ):
        seal = platform_seal(runtime.seal)
        assert seal.issuing_ca is not None and seal.issuing_ca.development_pki is not None
        crl = await client.get("/pki/signers.crl")
        root_crl = await client.get("/pki/root.crl")
        signed = await asyncio.to_thread(sign_b_lt, seal, runtime.settings, tmp_path)
    assert crl.status_code == 200 and root_crl.status_code == 200
    signers_ca = cert(seal.issuing_ca.certificate.dump())
    assert x509.load_der_x509_crl(crl.content).issuer == signers_ca.subject
    assert await offline_hard_fail_verdicts(signed.pdf.read_bytes(), seal.trust_roots) == [True]
