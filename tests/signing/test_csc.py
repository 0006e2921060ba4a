"""eIDAS advanced through a CSC v2 trust service: app.providers.csc (the wire client) and
app.signing.remote (pyHanko's CMS around the remote signature), against the fake trust service
of csc_fake.py: the PDF is signed with the verified person's own certificate, validates (pyHanko,
pdfsig, B-LT and B-LTA with the fake CA's CRL), and only digests left the service."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asn1crypto import x509 as asn1_x509
from asn1crypto.crl import CertificateList
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore

from app.config import Settings
from app.providers.csc import (
    SHA256 as SHA256_OID,
)
from app.providers.csc import (
    CscCredential,
    CscRefused,
    CscUnavailable,
    comparable_name,
    open_csc_credential,
)
from app.signing.keys import Seal, load_seal
from app.signing.pades import (
    FieldSpec,
    SignatureOrder,
    add_archive_timestamp,
    add_signature_fields,
    add_validation_data,
)
from app.signing.remote import RemoteSigner, sign_with_remote_key
from app.signing.signer_identity import PersonCertificate
from tests.signing.ades import offline_hard_fail_verdicts, strict_ades_verdicts
from tests.signing.csc_fake import CLIENT_ID, CLIENT_SECRET, PIN, FakeCsc, Seen
from tests.signing.pdfsig import pdfsig_verdicts
from tests.signing.samples import text_pdf
from tests.signing.testpki import TestPki

FIELD = FieldSpec("Signer1", 0, (56.0, 600.0, 236.0, 660.0))
GIVEN, SURNAME, EMAIL = "Éloïse", "Müller-Dupont", "eloise@example.com"


@pytest.fixture(scope="module")
def csc() -> Iterator[FakeCsc]:
    fake = FakeCsc()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def no_failure_left_scripted(csc: FakeCsc) -> Iterator[None]:
    yield
    csc.script.clear()


@pytest.fixture(scope="module")
def fake_root_pem(csc: FakeCsc, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return csc.write_root_pem(tmp_path_factory.mktemp("csc-root") / "fake-qtsp-root.pem")


@pytest.fixture(scope="module")
def fake_root(csc: FakeCsc) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(csc.root.public_bytes(Encoding.DER))


@pytest.fixture(scope="module")
def seal(test_pki: TestPki, fake_root_pem: Path) -> Iterator[Seal]:
    """The test seal and TSA, with the fake trust service's root trusted the way an operator
    trusts its QTSP's: CACHET_TRUST_ROOTS_FILE."""
    loaded = load_seal(
        Settings(
            signing_key_file=test_pki.seal_key_pem,
            signing_cert_file=test_pki.seal_cert_pem,
            signing_chain_file=test_pki.chain_pem,
            tsa_url=test_pki.tsa_url,
            trust_roots_file=fake_root_pem,
        )
    )
    yield loaded
    loaded.close()


def csc_settings(csc: FakeCsc, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "advanced_signer": "csc",
        "csc_base_url": csc.base_url,
        "csc_client_id": CLIENT_ID,
        "csc_client_secret": CLIENT_SECRET,
        "csc_pin": PIN,
        "csc_timeout_seconds": 5.0,
        **changes,
    }
    return Settings(**values)


def order(name: str = f"{GIVEN} {SURNAME}") -> SignatureOrder:
    return SignatureOrder(
        field_name=FIELD.name,
        signer_name=name,
        reason="Signature de l'enveloppe 42",
        location=None,
        contact_info=None,
        stamp=None,
    )


def prepared_pdf(directory: Path) -> Path:
    prepared = directory / "fields.pdf"
    add_signature_fields(text_pdf(directory / "original.pdf", pages=1), prepared, [FIELD])
    return prepared


@contextmanager
def requests_during(csc: FakeCsc) -> Iterator[list[Seen]]:
    """The requests the fake receives within the block (filled in when it ends)."""
    start = len(csc.seen)
    during: list[Seen] = []
    try:
        yield during
    finally:
        during.extend(csc.seen[start:])


# --- one signature, end to end ----------------------------------------------------------


@dataclass(frozen=True)
class SignedByCsc:
    signed: Path
    person: PersonCertificate
    credential_der: bytes
    opening: list[Seen]
    signing: list[Seen]


@pytest.fixture(scope="module")
def signed(csc: FakeCsc, seal: Seal, tmp_path_factory: pytest.TempPathFactory) -> SignedByCsc:
    directory = tmp_path_factory.mktemp("csc-signed")
    csc.add_credential(EMAIL, GIVEN, SURNAME)
    prepared, signed = prepared_pdf(directory), directory / "signed.pdf"
    # What the signing worker does (the workflow wires it): open the person's credential, by
    # their e-mail address and verified names (written otherwise than on the certificate),
    # then sign the field with it, the seal timestamping.
    start = len(csc.seen)
    with open_csc_credential(csc_settings(csc), "ELOISE", "muller dupont", EMAIL) as credential:
        opened = len(csc.seen)
        person = sign_with_remote_key(prepared, signed, order=order(), key=credential, seal=seal)
        credential_der = credential.certificate_der
    opening, signing = csc.seen[start:opened], csc.seen[opened:]
    return SignedByCsc(signed, person, credential_der, opening, signing)


def test_the_signature_carries_the_persons_certificate_and_validates(
    signed: SignedByCsc, seal: Seal, fake_root_pem: Path
) -> None:
    with signed.signed.open("rb") as stream:
        (embedded,) = PdfFileReader(stream).embedded_signatures
        assert embedded.signer_cert.dump() == signed.credential_der
        status = validate_pdf_signature(
            embedded,
            signer_validation_context=seal.validation_context(),
            ts_validation_context=seal.validation_context(),
        )
    assert status.bottom_line, status.summary()
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted

    certificate = x509.load_der_x509_certificate(signed.credential_der)
    assert signed.person == PersonCertificate(
        subject="CN=Éloïse Müller-Dupont,sn=Müller-Dupont,givenName=Éloïse,C=FR",
        issuer="CN=Fake QTSP Root CA,O=Fake QTSP,C=FR",
        serial_number=format(certificate.serial_number, "x"),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        sha256=hashlib.sha256(signed.credential_der).hexdigest(),
        backend="csc",
    )
    # givenName and surname by their RFC 4519 names (as with local_ca), not their OIDs.

    (verdict,) = pdfsig_verdicts(signed.signed, fake_root_pem)
    assert verdict.valid, verdict.raw
    # No OCSP responder named in the certificate: NSS's verdict rests on the chain alone.
    assert verdict.certificate_trusted is True, verdict.raw
    assert verdict.signer == "Éloïse Müller-Dupont"


def test_only_the_digest_of_the_signed_attributes_left_the_service(signed: SignedByCsc) -> None:
    assert [seen.method for seen in signed.opening] == [
        "info",
        "oauth2/token",
        "credentials/list",
        "credentials/info",
    ]
    # Exactly one authorization and one signature: no remote dry run to measure the CMS.
    assert [seen.method for seen in signed.signing] == [
        "credentials/authorize",
        "signatures/signHash",
    ]
    authorize, sign_hash = (seen.body for seen in signed.signing)
    assert authorize["hashes"] == sign_hash["hashes"]
    assert authorize["numSignatures"] == 1
    assert authorize["authData"] == [{"id": "PIN", "value": PIN}]
    assert authorize["hashAlgorithmOID"] == sign_hash["hashAlgorithmOID"] == SHA256_OID
    assert sign_hash["signAlgo"] == "1.2.840.113549.1.1.11"  # sha256WithRSAEncryption
    (sent,) = (base64.b64decode(value) for value in sign_hash["hashes"])
    assert sent == hashlib.sha256(_signed_attributes(signed.signed)).digest()
    # Nothing else big enough to be the document went anywhere.
    assert all(seen.size < 2048 for seen in signed.opening + signed.signing)


def test_b_lt_then_b_lta_with_the_trust_services_crl(
    signed: SignedByCsc,
    seal: Seal,
    csc: FakeCsc,
    test_pki: TestPki,
    fake_root: asn1_x509.Certificate,
    tmp_path: Path,
) -> None:
    with_data = tmp_path / "b-lt.pdf"
    fetches = csc.crl_fetches
    add_validation_data(signed.signed, with_data, seal, field_name=FIELD.name)

    assert csc.crl_fetches > fetches
    with with_data.open("rb") as stream:
        dss = DocumentSecurityStore.read_dss(PdfFileReader(stream))
        crls = [CertificateList.load(ref.get_object().data) for ref in dss.crls]
    assert fake_root.subject in [crl.issuer for crl in crls]
    roots = [test_pki.root, fake_root]
    assert asyncio.run(offline_hard_fail_verdicts(with_data.read_bytes(), roots)) == [True]

    archived = tmp_path / "b-lta.pdf"
    add_archive_timestamp(with_data, archived, seal)
    verdicts = asyncio.run(strict_ades_verdicts(archived, roots))
    assert verdicts and all(verdict.passed for verdict in verdicts), verdicts


def _signed_attributes(pdf: Path) -> bytes:
    with pdf.open("rb") as stream:
        (embedded,) = PdfFileReader(stream).embedded_signatures
        tagged: bytes = embedded.signer_info["signed_attrs"].dump()
        # Signed as a SET OF (RFC 5652 5.4), stored with the [0] IMPLICIT tag instead.
        return b"\x31" + tagged[1:]


# --- the credential's digests -----------------------------------------------------------


def test_sign_digests_authorizes_exactly_the_digests_it_signs(csc: FakeCsc) -> None:
    csc.add_credential("batch@example.com", "Ana", "Li", multisign=2)
    digests = [hashlib.sha256(word).digest() for word in (b"one", b"two", b"three")]
    with (
        open_csc_credential(csc_settings(csc), "Ana", "Li", "batch@example.com") as credential,
        requests_during(csc) as seen,
    ):
        signatures = credential.sign_digests(digests, SHA256_OID)
        public_key = x509.load_der_x509_certificate(credential.certificate_der).public_key()

    # multisign 2: two authorizations, each for the digests its signHash then sends.
    methods = [s.method for s in seen]
    assert methods == ["credentials/authorize", "signatures/signHash"] * 2
    encoded = [base64.b64encode(d).decode() for d in digests]
    batches = [encoded[:2], encoded[2:]]
    assert [s.body["hashes"] for s in seen if s.method == "credentials/authorize"] == batches
    assert [s.body["hashes"] for s in seen if s.method == "signatures/signHash"] == batches
    assert isinstance(public_key, rsa.RSAPublicKey)
    for digest, signature in zip(digests, signatures, strict=True):
        public_key.verify(signature, digest, PKCS1v15(), Prehashed(SHA256()))


def test_the_fake_binds_a_sad_to_its_hashes(csc: FakeCsc) -> None:
    """SCAL 2 at the fake itself: a SAD signs the hashes it was given, once, and no others."""
    credential_id = csc.add_credential("scal@example.com", "Jo", "Bloggs")
    authorized, other = (
        base64.b64encode(hashlib.sha256(w).digest()).decode() for w in (b"a", b"b")
    )
    with httpx.Client(base_url=f"{csc.base_url}/csc/v2") as client:
        token = client.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"

        def authorize(pin: str = PIN) -> httpx.Response:
            body = {
                "credentialID": credential_id,
                "numSignatures": 1,
                "hashes": [authorized],
                "hashAlgorithmOID": SHA256_OID,
                "authData": [{"id": "PIN", "value": pin}],
            }
            return client.post("/credentials/authorize", json=body)

        def sign(sad: str, hashes: list[str]) -> httpx.Response:
            body = {
                "credentialID": credential_id,
                "SAD": sad,
                "hashes": hashes,
                "hashAlgorithmOID": SHA256_OID,
                "signAlgo": "1.2.840.113549.1.1.1",
            }
            return client.post("/signatures/signHash", json=body)

        sad = authorize().json()["SAD"]
        refused = sign(sad, [other])
        assert refused.status_code == 400
        assert refused.json() == {
            "error": "invalid_request",
            "error_description": "Hashes differ from those authorized",
        }
        assert sign(sad, [authorized]).status_code == 200
        assert sign(sad, [authorized]).json()["error_description"] == "The SAD has been used"

        assert authorize(pin="000000").json()["error_description"] == "Invalid PIN"
        csc.sad_lifetime_seconds = 0
        try:
            expired = sign(authorize().json()["SAD"], [authorized])
        finally:
            csc.sad_lifetime_seconds = 300
        assert expired.json()["error_description"] == "The SAD has expired"

        client.headers["Authorization"] = "Bearer not-a-token"
        assert sign(sad, [authorized]).status_code == 401


def test_an_ecdsa_credential_signs_a_valid_pdf_too(
    csc: FakeCsc, seal: Seal, tmp_path: Path
) -> None:
    csc.add_credential("ec@example.com", "Zoé", "Ng", key_type="ec")
    signed = tmp_path / "signed.pdf"
    with open_csc_credential(csc_settings(csc), "Zoe", "NG", "ec@example.com") as credential:
        assert isinstance(
            x509.load_der_x509_certificate(credential.certificate_der).public_key(),
            ec.EllipticCurvePublicKey,
        )
        sign_with_remote_key(
            prepared_pdf(tmp_path), signed, order=order("Zoé Ng"), key=credential, seal=seal
        )
    assert csc.bodies("signatures/signHash")[-1]["signAlgo"] == "1.2.840.10045.4.3.2"
    with signed.open("rb") as stream:
        (embedded,) = PdfFileReader(stream).embedded_signatures
        status = validate_pdf_signature(embedded, seal.validation_context())
    assert status.bottom_line, status.summary()


def test_a_dry_run_never_reaches_the_trust_service(csc: FakeCsc) -> None:
    csc.add_credential("dry@example.com", "Dry", "Run")
    with (
        open_csc_credential(csc_settings(csc), "Dry", "Run", "dry@example.com") as credential,
        requests_during(csc) as seen,
    ):
        placeholder = asyncio.run(
            RemoteSigner(credential).async_sign_raw(b"attributes", "sha256", dry_run=True)
        )
    assert placeholder == bytes(256)  # RSA-2048
    assert seen == []


# --- choosing the credential --------------------------------------------------------------


def test_the_credential_is_the_persons_own_found_by_email_and_name(csc: FakeCsc) -> None:
    mine = csc.add_credential("jean.martin@a.example", "Jean", "Martin")
    homonym = csc.add_credential("jean.martin@b.example", "Jean", "Martin")
    csc.add_credential("jean.martin@a.example", "Jeanne", "Martin")  # not a match either

    with open_csc_credential(
        csc_settings(csc), "Jean", "Martin", "jean.martin@a.example"
    ) as credential:
        assert credential.credential_id == mine != homonym

    with pytest.raises(CscRefused, match="in the name of Paul Durand"):
        _open(csc, "Paul", "Durand", "jean.martin@a.example")
    with pytest.raises(CscRefused, match=r"no credential of nobody@example\.com"):
        _open(csc, "Jean", "Martin", "nobody@example.com")


def test_a_configured_credential_must_be_the_persons_too(csc: FakeCsc) -> None:
    theirs = csc.add_credential("someone@example.com", "Some", "One")
    with pytest.raises(CscRefused, match="is not in the name of Other Person"):
        _open(csc, "Other", "Person", "other@example.com", csc_credential_id=theirs)
    with open_csc_credential(
        csc_settings(csc, csc_credential_id=theirs), "Some", "One", None
    ) as credential:
        assert credential.credential_id == theirs
    assert csc.bodies("credentials/info")[-1]["credentialID"] == theirs


@pytest.mark.parametrize(
    ("problem", "said"),
    [({"key_status": "disabled"}, "its key is disabled"), ({"expired": True}, "is expired")],
)
def test_a_disabled_key_or_an_expired_certificate_is_refused(
    csc: FakeCsc, problem: dict[str, Any], said: str
) -> None:
    email = f"{next(iter(problem))}@example.com"
    credential_id = csc.add_credential(email, "Kim", "Park", **problem)
    with pytest.raises(CscRefused, match=said):
        _open(csc, "Kim", "Park", email)
    with pytest.raises(CscRefused, match=said):
        _open(csc, "Kim", "Park", email, csc_credential_id=credential_id)


@pytest.mark.parametrize(
    ("written", "compared"),
    [
        ("Jean-Élie", "jean elie"),
        ("  MÜLLER  ", "muller"),
        ("Łukasz", "lukasz"),
        ("O\u2019Brien", "o brien"),
        ("Strauß", "strauss"),
    ],
)
def test_names_compare_without_case_accents_or_hyphens(written: str, compared: str) -> None:
    assert comparable_name(written) == compared


# --- refusals and outages -----------------------------------------------------------------


def test_a_wrong_client_secret_is_refused(csc: FakeCsc) -> None:
    csc.add_credential("secret@example.com", "Lea", "Roy")
    with pytest.raises(CscRefused, match="oauth2/token with HTTP 401: invalid_client"):
        _open(csc, "Lea", "Roy", "secret@example.com", csc_client_secret="wrong")


def test_a_credential_asking_for_a_pin_needs_one(csc: FakeCsc) -> None:
    csc.add_credential("pin@example.com", "Max", "Weber")
    with pytest.raises(CscRefused, match="asks for a PIN: set CACHET_CSC_PIN"):
        _open(csc, "Max", "Weber", "pin@example.com", csc_pin=None)
    settings = csc_settings(csc, csc_pin="000000")
    with (
        open_csc_credential(settings, "Max", "Weber", "pin@example.com") as credential,
        pytest.raises(CscRefused, match="authorize with HTTP 400: invalid_request \\(Invalid PIN"),
    ):
        credential.sign_digests([bytes(32)], SHA256_OID)


def test_a_service_that_is_not_csc_v2_is_refused(
    csc: FakeCsc, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csc, "info_changes", {"specs": "1.0.4.0"})
    with pytest.raises(CscRefused, match=r"speaks CSC API 1\.0\.4\.0, not 2\.x"):
        _open(csc, "Any", "One", "any@example.com")


@pytest.mark.parametrize(
    ("method", "status", "delay"),
    [
        ("signatures/signHash", 429, 0.0),
        ("signatures/signHash", 503, 0.0),
        ("credentials/authorize", 500, 0.0),
        ("signatures/signHash", None, 2.5),
        ("info", 502, 0.0),
        ("oauth2/token", None, 2.5),
        ("credentials/list", 429, 0.0),
    ],
)
def test_outages_are_unavailable_and_write_nothing(
    csc: FakeCsc,
    seal: Seal,
    tmp_path: Path,
    method: str,
    status: int | None,
    delay: float,
) -> None:
    csc.add_credential("outage@example.com", "Noor", "Haddad")
    prepared, target = prepared_pdf(tmp_path), tmp_path / "signed.pdf"
    csc.fail_next(method, status=status, delay=delay)
    settings = csc_settings(csc, csc_timeout_seconds=1.0)
    with (
        pytest.raises(CscUnavailable) as raised,
        open_csc_credential(settings, "Noor", "Haddad", "outage@example.com") as credential,
    ):
        sign_with_remote_key(prepared, target, order=order(), key=credential, seal=seal)
    said = "in time" if status is None else f"HTTP {status}"
    assert method in str(raised.value) and said in str(raised.value)
    assert not target.exists()
    # The signing worker hands it to the service's process: it must survive pickling.
    assert str(pickle.loads(pickle.dumps(raised.value))) == str(raised.value)


def test_refusals_survive_pickling() -> None:
    error = CscRefused("the trust service refused credentials/authorize with HTTP 400")
    assert str(pickle.loads(pickle.dumps(error))) == str(error)


def _open(csc: FakeCsc, given: str, surname: str, email: str | None, **changes: Any) -> None:
    with open_csc_credential(csc_settings(csc, **changes), given, surname, email) as credential:
        assert isinstance(credential, CscCredential)


def test_a_token_the_service_dropped_is_replaced_once(csc: FakeCsc) -> None:
    csc.add_credential("token@example.com", "Ida", "Berg")
    with (
        open_csc_credential(csc_settings(csc), "Ida", "Berg", "token@example.com") as credential,
        requests_during(csc) as seen,
    ):
        csc.tokens.clear()  # expired or revoked at the service before its announced time
        (signature,) = credential.sign_digests([hashlib.sha256(b"x").digest()], SHA256_OID)
    assert signature
    assert [s.method for s in seen] == [
        "credentials/authorize",
        "oauth2/token",
        "credentials/authorize",
        "signatures/signHash",
    ]
