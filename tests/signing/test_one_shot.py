"""eIDAS advanced signatures with a one-shot certificate (CACHET_ADVANCED_SIGNER=local_ca).

The issuing CA is the certomancer test PKI's intermediate (PEM files, a PKCS#12 file, a SoftHSM2
token), so the seal's root vouches for the signers' certificates; the development PKI's signers
CA is covered by test_issuing.py. Each signed file is B-LT right after (add_validation_data,
hard-fail) and checked offline by pyHanko with revocation data required, by poppler's pdfsig,
and by the service's own validation (validate_pdf, POST /v1/validations).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from asn1crypto.crl import CertificateList
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from app.config import Environment, Settings
from app.signing import one_shot
from app.signing.issuing import DEVELOPMENT_POLICY_OID, IssuingCaConfigError
from app.signing.keys import Seal, load_seal
from app.signing.one_shot import sign_with_one_shot_certificate
from app.signing.pades import (
    FieldSpec,
    add_archive_timestamp,
    add_signature_fields,
    add_validation_data,
)
from app.signing.signer_identity import PersonCertificate, VerifiedPerson
from app.signing.validation import validate_pdf
from tests.signing.ades import offline_hard_fail_verdicts, strict_ades_verdicts
from tests.signing.pdfsig import pdfsig_verdicts
from tests.signing.samples import text_pdf
from tests.signing.softhsm import ISSUING_CA_LABEL, Token
from tests.signing.test_pades import order
from tests.signing.testpki import TestPki
from tests.support import ApiClient

PERSON = VerifiedPerson("Éloïse Marie", "Müller", "eloise@example.com", "fr")
FIELDS = (
    FieldSpec("Signer1", 0, (56.0, 600.0, 236.0, 660.0)),
    FieldSpec("Signer2", 0, (300.0, 600.0, 480.0, 660.0), lock_document=True),
)


def settings_for(test_pki: TestPki, data_dir: Path, **issuing_ca: Any) -> Settings:
    """The test seal and TSA; the issuing CA as given (default: the intermediate, PEM)."""
    return Settings(
        env=Environment.development,
        data_dir=data_dir,
        signing_key_file=test_pki.seal_key_pem,
        signing_cert_file=test_pki.seal_cert_pem,
        signing_chain_file=test_pki.chain_pem,
        tsa_url=test_pki.tsa_url,
        **(issuing_ca or test_pki.issuing_ca_settings()),
    )


def pkcs12_issuing_ca(test_pki: TestPki) -> dict[str, Any]:
    return {
        "issuing_ca_pkcs12_file": test_pki.intermediate_p12,
        "issuing_ca_pkcs12_password": test_pki.p12_password,
    }


def pkcs11_issuing_ca(token: Token, test_pki: TestPki) -> dict[str, Any]:
    return {
        "issuing_ca_pkcs11_module": token.module,
        "issuing_ca_pkcs11_token_label": token.label,
        "issuing_ca_pkcs11_pin": token.pin,
        "issuing_ca_pkcs11_key_label": ISSUING_CA_LABEL,
        "issuing_ca_chain_file": test_pki.root_pem,
    }


@dataclass(frozen=True)
class Signed:
    pdf: Path
    """B-LT: the signature, then its validation data."""
    certificate: PersonCertificate


def sign_b_lt(seal: Seal, settings: Settings, folder: Path, *, fields: int = 1) -> Signed:
    """Fields, then one-shot signatures each followed by its validation data (what the workflow
    does). Synchronous: run it in a worker thread."""
    current = folder / "fields.pdf"
    add_signature_fields(text_pdf(folder / "original.pdf", pages=1), current, FIELDS[:fields])
    certificate = None
    for spec in FIELDS[:fields]:
        signed, with_data = folder / f"{spec.name}.pdf", folder / f"{spec.name}-lt.pdf"
        certificate = sign_with_one_shot_certificate(
            current,
            signed,
            order=order(spec.name, PERSON.common_name),
            person=PERSON,
            settings=settings,
            seal=seal,
        )
        add_validation_data(signed, with_data, seal, field_name=spec.name)
        current = with_data
    assert certificate is not None
    return Signed(current, certificate)


def signer_certificates(pdf: Path) -> list[x509.Certificate]:
    with pdf.open("rb") as handle:
        return [
            x509.load_der_x509_certificate(embedded.signer_cert.dump())
            for embedded in PdfFileReader(handle).embedded_regular_signatures
        ]


def dss_crls(pdf: Path) -> list[CertificateList]:
    with pdf.open("rb") as handle:
        dss = DocumentSecurityStore.read_dss(PdfFileReader(handle))
        return [CertificateList.load(ref.get_object().data) for ref in dss.crls]


def public_key_of(certificate: asn1_x509.Certificate) -> Any:
    return x509.load_der_x509_certificate(certificate.dump()).public_key()


@pytest.fixture(scope="module")
def seal(test_pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seal]:
    seal = load_seal(settings_for(test_pki, tmp_path_factory.mktemp("data")))
    yield seal
    seal.close()


@pytest.fixture(scope="module")
async def signed(seal: Seal, test_pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Signed:
    settings = settings_for(test_pki, tmp_path_factory.mktemp("data"))
    return await asyncio.to_thread(sign_b_lt, seal, settings, tmp_path_factory.mktemp("one-shot"))


# --- the certificate ---------------------------------------------------------------------------


def test_the_certificate_names_the_verified_person(signed: Signed, test_pki: TestPki) -> None:
    (certificate,) = signer_certificates(signed.pdf)
    subject = certificate.subject

    def value(oid: x509.ObjectIdentifier) -> str:
        (attribute,) = subject.get_attributes_for_oid(oid)
        assert isinstance(attribute.value, str)
        return attribute.value

    assert value(NameOID.GIVEN_NAME) == "Éloïse Marie"
    assert value(NameOID.SURNAME) == "Müller"
    assert value(NameOID.COMMON_NAME) == "Éloïse Marie Müller"
    assert value(NameOID.COUNTRY_NAME) == "FR"
    assert value(NameOID.SERIAL_NUMBER).startswith("CACHET-")
    assert certificate.issuer.rfc4514_string() == (
        x509.load_der_x509_certificate(test_pki.intermediate.dump()).subject.rfc4514_string()
    )
    # What the evidence keeps says the same.
    assert signed.certificate.backend == "local_ca"
    assert "givenName=Éloïse Marie" in signed.certificate.subject
    assert "sn=Müller" in signed.certificate.subject
    assert signed.certificate.serial_number == f"{certificate.serial_number:x}"
    assert signed.certificate.not_after == certificate.not_valid_after_utc


def test_the_certificate_is_a_natural_persons_signing_certificate(
    signed: Signed, seal: Seal
) -> None:
    (certificate,) = signer_certificates(signed.pdf)
    extensions = certificate.extensions

    usage = extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and usage.value.content_commitment
    assert not (usage.value.key_cert_sign or usage.value.crl_sign or usage.value.key_encipherment)
    constraints = extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    policies = extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == [DEVELOPMENT_POLICY_OID]
    subject_key = extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert subject_key.digest == x509.SubjectKeyIdentifier.from_public_key(public_key).digest
    authority_key = extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert seal.issuing_ca is not None
    assert authority_key.key_identifier == seal.issuing_ca.certificate.key_identifier
    points = extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [name.value for point in points for name in point.full_name or ()] == [
        "http://127.0.0.1:8000/pki/signers.crl"  # {base_url}/pki/signers.crl
    ]

    assert public_key.curve.name == "secp256r1"
    assert 0 < certificate.serial_number < 2**159
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime == timedelta(minutes=60)
    issued = certificate.not_valid_before_utc + timedelta(minutes=1)
    assert abs(issued - datetime.now(UTC)) < timedelta(minutes=10)


# --- validation --------------------------------------------------------------------------------


async def test_b_lt_carries_the_signers_crl_and_validates_strictly(
    signed: Signed, seal: Seal, test_pki: TestPki
) -> None:
    issuer = seal.issuing_ca
    assert issuer is not None
    crls = [crl for crl in dss_crls(signed.pdf) if crl.issuer == issuer.certificate.subject]
    assert len(crls) == 1
    signers_crl = x509.load_der_x509_crl(crls[0].dump())
    ca_key = public_key_of(issuer.certificate)
    assert signers_crl.is_signature_valid(ca_key)
    # Revocation data required for every certificate, nothing fetched: the file has it all.
    assert await offline_hard_fail_verdicts(signed.pdf.read_bytes(), [test_pki.root]) == [True]


async def test_archived_it_passes_strict_ades_and_pdfsig(
    signed: Signed, seal: Seal, test_pki: TestPki, tmp_path: Path
) -> None:
    archived = tmp_path / "archived.pdf"
    await asyncio.to_thread(add_archive_timestamp, signed.pdf, archived, seal)

    verdicts = await strict_ades_verdicts(archived, [test_pki.root])
    assert [v.passed for v in verdicts] == [True], verdicts
    reported = await asyncio.to_thread(pdfsig_verdicts, archived, test_pki.root_pem)
    (verdict,) = [v for v in reported if v.field == "Signer1"]  # and the document timestamp
    assert verdict.valid, verdict.raw
    assert verdict.signer == "Éloïse Marie Müller"
    assert verdict.certificate_trusted is True, verdict.raw  # no OCSP to ask: NSS trusts it


async def test_the_services_validation_reports_the_person_and_the_level(
    signed: Signed, seal: Seal, tmp_path: Path
) -> None:
    archived = tmp_path / "archived.pdf"
    await asyncio.to_thread(add_archive_timestamp, signed.pdf, archived, seal)
    now = datetime.now(UTC)
    for pdf, level in ((signed.pdf, "B-LT"), (archived, "B-LTA")):
        report = await asyncio.to_thread(
            validate_pdf, pdf, seal.trust_roots, now=now, revocation="hard"
        )
        signature = next(s for s in report.signatures if s.kind == "signature")
        assert (signature.signer, signature.pades_level) == ("Éloïse Marie Müller", level)
        assert report.verdict == "passed", report.reasons
        assert signature.revocation_data_embedded


async def test_post_validations_reports_the_person_and_the_level(
    api: ApiClient, signed: Signed, seal: Seal, tmp_path: Path
) -> None:
    archived = tmp_path / "archived.pdf"
    await asyncio.to_thread(add_archive_timestamp, signed.pdf, archived, seal)
    response = await api.post(
        "/v1/validations",
        content=archived.read_bytes(),
        headers={"Content-Type": "application/pdf"},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["verdict"] == "passed", report
    (signature,) = [s for s in report["signatures"] if s["kind"] == "signature"]
    assert signature["signer"] == "Éloïse Marie Müller"
    assert signature["pades_level"] == "B-LTA"


# --- keys ----------------------------------------------------------------------------------------


async def test_two_signatures_get_two_keys_and_two_certificates(
    seal: Seal, test_pki: TestPki, tmp_path: Path
) -> None:
    settings = settings_for(test_pki, tmp_path / "data")
    signed = await asyncio.to_thread(sign_b_lt, seal, settings, tmp_path, fields=2)

    first, second = signer_certificates(signed.pdf)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert first.public_key().public_bytes(*spki) != second.public_key().public_bytes(*spki)
    assert first.serial_number != second.serial_number
    assert first.subject != second.subject  # their serialNumber attributes differ
    assert await offline_hard_fail_verdicts(signed.pdf.read_bytes(), [test_pki.root]) == [
        True,
        True,
    ]


async def test_the_key_is_written_nowhere_and_dropped(
    seal: Seal, test_pki: TestPki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys: list[ec.EllipticCurvePrivateKey] = []
    fresh_key = one_shot._fresh_key

    def recording() -> ec.EllipticCurvePrivateKey:
        keys.append(fresh_key())
        return keys[-1]

    monkeypatch.setattr(one_shot, "_fresh_key", recording)
    data_dir, work = tmp_path / "data", tmp_path / "work"
    data_dir.mkdir()
    work.mkdir()
    signed = await asyncio.to_thread(sign_b_lt, seal, settings_for(test_pki, data_dir), work)

    (key,) = keys
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    encodings = [
        scalar,
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
    ]
    written = [path for folder in (data_dir, work) for path in folder.rglob("*") if path.is_file()]
    assert signed.pdf in written
    for path in written:
        content = path.read_bytes()
        assert b"PRIVATE KEY" not in content, path
        assert not any(encoding in content for encoding in encodings), path
    assert list(data_dir.iterdir()) == []  # a configured issuing CA: nothing in the data dir


# --- the issuing CA's three key sources ----------------------------------------------------------


@pytest.mark.parametrize("source", ["pem", "pkcs12", "pkcs11"])
async def test_each_issuing_ca_key_source_issues_a_certificate_that_validates(
    source: str, softhsm_token: Token, test_pki: TestPki, tmp_path: Path
) -> None:
    issuing_ca = {
        "pem": test_pki.issuing_ca_settings(),
        "pkcs12": pkcs12_issuing_ca(test_pki),
        "pkcs11": pkcs11_issuing_ca(softhsm_token, test_pki),
    }[source]
    settings = settings_for(test_pki, tmp_path / "data", **issuing_ca)
    seal = await asyncio.to_thread(load_seal, settings)
    try:
        assert seal.issuing_ca is not None
        assert seal.issuing_ca.certificate.dump() == test_pki.intermediate.dump()
        expected = {"pem": "PEM files", "pkcs12": "PKCS#12", "pkcs11": "PKCS#11"}[source]
        assert seal.issuing_ca.description.startswith(expected)
        signed = await asyncio.to_thread(sign_b_lt, seal, settings, tmp_path)
        crl = await asyncio.to_thread(seal.issuing_ca.current_crl)
    finally:
        seal.close()

    (certificate,) = signer_certificates(signed.pdf)
    intermediate_key = public_key_of(test_pki.intermediate)
    assert isinstance(intermediate_key, rsa.RSAPublicKey)
    assert x509.load_der_x509_crl(crl.dump()).is_signature_valid(intermediate_key)
    assert (
        certificate.issuer == x509.load_der_x509_certificate(test_pki.intermediate.dump()).subject
    )
    assert await offline_hard_fail_verdicts(signed.pdf.read_bytes(), [test_pki.root]) == [True]


# --- mistakes ------------------------------------------------------------------------------------


def test_without_the_issuing_ca_a_one_shot_signature_is_refused(
    test_pki: TestPki, tmp_path: Path
) -> None:
    settings = settings_for(test_pki, tmp_path / "data").model_copy(
        update={"advanced_signer": "csc"}
    )
    seal = load_seal(settings)
    assert seal.issuing_ca is None
    fields = tmp_path / "fields.pdf"
    add_signature_fields(text_pdf(tmp_path / "original.pdf", pages=1), fields, FIELDS[:1])
    with pytest.raises(IssuingCaConfigError, match="CACHET_ADVANCED_SIGNER is 'csc'"):
        sign_with_one_shot_certificate(
            fields,
            tmp_path / "signed.pdf",
            order=order("Signer1", PERSON.common_name),
            person=PERSON,
            settings=settings,
            seal=seal,
        )
    assert not (tmp_path / "signed.pdf").exists()
