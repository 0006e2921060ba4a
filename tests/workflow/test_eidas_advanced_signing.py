"""eIDAS advanced, signed: the whole ceremony over HTTP (link, SMS code, identity on the
development page, signature) with each signer backend. With `local_ca` each signature carries
a one-shot certificate from the issuing CA naming the verified person; with `csc` the trust
service's own certificate for that person, only hashes leaving the service. pyHanko (strict
AdES, offline, hard-fail) and pdfsig validate every signature; POST /v1/validations names the
signer from the certificate; credits are spent at this level; the evidence says who was
verified by whom."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.reader import PdfFileReader

from app.runtime import Runtime
from tests.signing.ades import strict_ades_verdicts
from tests.signing.csc_fake import CLIENT_ID, CLIENT_SECRET, PIN, FakeCsc
from tests.signing.pdfsig import pdfsig_verdicts
from tests.signing.test_evidence_pdf import pdf_text, squeezed
from tests.signing.test_evidence_pdf import write as write_pdf
from tests.signing.testpki import TestPki
from tests.support import ApiClient
from tests.support.sinks import MailSink
from tests.workflow.eidas_support import newest_code, sent_eidas_envelope, verify
from tests.workflow.signing_support import (
    check_valid,
    sign,
    signature_png,
    wait_until_signed,
    write,
)
from tests.workflow.support import open_invitation

LEVEL = "eidas_advanced"
# RFC 4514 with the LDAP names of the attributes cryptography would otherwise print as OIDs.
_LDAP_NAMES = {
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.SURNAME: "sn",
    NameOID.GIVEN_NAME: "givenName",
}


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _verified_names(index: int) -> dict[str, str]:
    """What the identity document says: more given names and other case than the sender typed
    ("Signataire{index} Martin"), which still matches; the certificate carries these."""
    return {"first_name": f"Signataire{index} Élise", "last_name": "MARTIN"}


async def _signed_by_everyone(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, tag: str, signers: int
) -> dict[str, Any]:
    """Sends an eIDAS advanced envelope and takes each signer through link, code, identity and
    signature, in order; the completed envelope."""
    envelope = await sent_eidas_envelope(api, runtime, tag, signers=signers, level=LEVEL)
    for index, recipient in enumerate(envelope["recipients"]):
        async with open_invitation(base_url, mail, f"s{index}+{tag}@example.com") as signer:
            assert (await signer.post("/v1/signing/otp")).status_code == 202
            code = await newest_code(base_url, recipient["id"])
            assert (await verify(signer, code)).status_code == 200
            started = await signer.post("/v1/signing/identity")
            assert started.status_code == 201, started.text
            page = urlsplit(started.json()["verification_url"]).path
            async with httpx.AsyncClient(base_url=base_url) as browser:
                decided = await browser.post(
                    f"{page}/complete",
                    json={
                        "outcome": "approved",
                        "document_type": "ID_CARD",
                        "country": "FR",
                        **_verified_names(index),
                    },
                )
            assert decided.status_code == 200, decided.text
            signed = await sign(signer, signature_png())
            assert signed.status_code == 202, signed.text
            await wait_until_signed(signer)
    return await api.get_envelope(envelope["id"])


async def _document(api: ApiClient, envelope_id: str) -> bytes:
    document = (await api.get_envelope(envelope_id))["documents"][0]
    url = f"/v1/envelopes/{envelope_id}/documents/{document['id']}/content"
    return bytes((await api.get(url)).content)


async def _events(api: ApiClient, envelope_id: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (await api.get(f"/v1/envelopes/{envelope_id}/events")).json()[
        "data"
    ]
    return data


def _signers_certificates(pdf: bytes) -> list[x509.Certificate]:
    """The certificate of each signature (document timestamps left out), in file order."""
    reader = PdfFileReader(io.BytesIO(pdf))
    return [
        x509.load_der_x509_certificate(embedded.signer_cert.dump())
        for embedded in reader.embedded_signatures
        if embedded.sig_object_type == "/Sig"
    ]


def _name(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in certificate.subject.get_attributes_for_oid(oid)]


def _names_the_verified_person(certificate: x509.Certificate, index: int) -> None:
    names = _verified_names(index)
    assert _name(certificate, NameOID.GIVEN_NAME) == [names["first_name"]]
    assert _name(certificate, NameOID.SURNAME) == [names["last_name"]]
    assert _name(certificate, NameOID.COMMON_NAME) == [
        f"{names['first_name']} {names['last_name']}"
    ]


async def _spent_at_this_level(api: ApiClient, envelope_id: str, signers: int) -> None:
    events = await _events(api, envelope_id)
    consumed = [e for e in events if e["type"] == "credits.consumed"]
    assert len(consumed) == signers
    assert {e["data"]["level"] for e in consumed} == {LEVEL}


# --- local_ca: a one-shot certificate from Cachet's issuing CA ----------------------------------


async def test_local_ca_signs_in_the_verified_persons_name(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    runtime: Runtime,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    assert runtime.settings.advanced_signer == "local_ca"
    tag = _tag()
    before = (await api.get("/v1/credits")).json()["eidas_advanced"]
    envelope = await _signed_by_everyone(api, base_url, mail, runtime, tag, signers=2)
    assert envelope["status"] == "completed"

    signed = await _document(api, envelope["id"])
    await check_valid(signed, test_pki, tmp_path, "advanced.pdf", signatures=2, archived=True)
    certificates = _signers_certificates(signed)
    assert len(certificates) == 2
    for index, certificate in enumerate(certificates):
        _names_the_verified_person(certificate, index)
        # Issued by the issuing CA (the test PKI's intermediate), not the platform seal.
        assert "Cachet Test Seal" not in certificate.subject.rfc4514_string()
    assert certificates[0].serial_number != certificates[1].serial_number
    assert certificates[0].public_key() != certificates[1].public_key()

    report = await api.post(
        "/v1/validations", content=signed, headers={"Content-Type": "application/pdf"}
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["verdict"] == "passed", body
    reported = [s for s in body["signatures"] if s["kind"] == "signature"]
    assert [s["signer"] for s in reported] == [
        f"{_verified_names(i)['first_name']} {_verified_names(i)['last_name']}" for i in (0, 1)
    ]
    # B-LTA: the final document timestamp covers both, with every revocation datum embedded.
    assert [s["pades_level"] for s in reported] == ["B-LTA", "B-LTA"], reported

    await _spent_at_this_level(api, envelope["id"], signers=2)
    after = (await api.get("/v1/credits")).json()["eidas_advanced"]
    assert after["consumed"] == before["consumed"] + 2
    await _recorded_certificates(api, envelope["id"], certificates, backend="local_ca")
    await _evidence_names_the_checks(api, envelope["id"], tmp_path)


async def _recorded_certificates(
    api: ApiClient, envelope_id: str, certificates: list[x509.Certificate], *, backend: str
) -> None:
    """recipient.signed keeps which certificate each signature was made with."""
    events = await _events(api, envelope_id)
    signed = [e for e in events if e["type"] == "recipient.signed"]
    assert len(signed) == len(certificates)
    for event, certificate in zip(signed, certificates, strict=True):
        assert event["data"]["method"] == "email_link+sms_otp+identity"
        (document,) = event["data"]["documents"]
        recorded = document["certificate"]
        assert recorded["backend"] == backend
        assert recorded["subject"] == certificate.subject.rfc4514_string(_LDAP_NAMES)
        assert int(recorded["serial_number"], 16) == certificate.serial_number


async def _evidence_names_the_checks(api: ApiClient, envelope_id: str, tmp_path: Path) -> None:
    evidence = (await api.get(f"/v1/envelopes/{envelope_id}/evidence")).content
    text = squeezed(pdf_text(write_pdf(evidence, tmp_path, "evidence.pdf")))
    assert text.count(squeezed("identité vérifiée par dev")) == 2
    for index in (0, 1):
        assert squeezed(f"Signataire{index} Élise MARTIN") in text
    assert squeezed("ID_CARD (FR)") in text


# --- csc: the trust service's certificate, only hashes leave -----------------------------------


@pytest.fixture(scope="module")
def csc() -> Iterator[FakeCsc]:
    fake = FakeCsc()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
async def csc_runtime(
    runtime: Runtime, csc: FakeCsc, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Runtime]:
    """The service configured for a CSC v2 trust service, whose root the operator trusts
    (CACHET_TRUST_ROOTS_FILE). The signing workers load the seal these settings describe."""
    root_pem = csc.write_root_pem(tmp_path_factory.mktemp("qtsp") / "qtsp-root.pem")
    with _settings_changed(
        runtime,
        advanced_signer="csc",
        csc_base_url=csc.base_url,
        csc_client_id=CLIENT_ID,
        csc_client_secret=CLIENT_SECRET,
        csc_pin=PIN,
        csc_timeout_seconds=5.0,
        trust_roots_file=root_pem,
    ):
        yield runtime


@contextmanager
def _settings_changed(runtime: Runtime, **changes: Any) -> Iterator[None]:
    original = runtime.settings
    runtime.settings = original.model_copy(update=changes)
    try:
        yield
    finally:
        runtime.settings = original


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


async def test_csc_signs_with_the_trust_services_certificate_for_the_person(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    csc_runtime: Runtime,
    csc: FakeCsc,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    tag = _tag()
    for index in (0, 1):
        names = _verified_names(index)
        csc.add_credential(f"s{index}+{tag}@example.com", names["first_name"], names["last_name"])
    hashes_before = len(csc.bodies("signatures/signHash"))

    envelope = await _signed_by_everyone(api, base_url, mail, csc_runtime, tag, signers=2)
    assert envelope["status"] == "completed"

    signed = await _document(api, envelope["id"])
    certificates = _signers_certificates(signed)
    assert len(certificates) == 2
    for index, certificate in enumerate(certificates):
        _names_the_verified_person(certificate, index)
        assert certificate.issuer == csc.root.subject
    # Only hashes went to the trust service: one signHash per signature, never the document.
    sign_hash = csc.bodies("signatures/signHash")[hashes_before:]
    assert len(sign_hash) == 2
    assert all(len(body["hashes"]) == 1 for body in sign_hash)

    roots = [test_pki.root, _asn1(csc.root)]  # the TSA's root and the trust service's
    verdicts = await strict_ades_verdicts(signed, roots)
    assert verdicts and all(v.passed for v in verdicts), verdicts
    root_pem = csc.write_root_pem(tmp_path / "qtsp-root.pem")
    path = write(tmp_path, "csc.pdf", signed)
    reported = await asyncio.to_thread(pdfsig_verdicts, path, root_pem)
    # pdfsig lists document timestamps but does not verify them; pyHanko did, above.
    by_pdfsig = [s for s in reported if s.signature_type == "ETSI.CAdES.detached"]
    assert len(by_pdfsig) == 2, by_pdfsig
    assert all(s.valid and s.certificate_trusted is not False for s in by_pdfsig), by_pdfsig
    assert [s.signer for s in by_pdfsig] == [
        f"{_verified_names(i)['first_name']} {_verified_names(i)['last_name']}" for i in (0, 1)
    ]
    await _spent_at_this_level(api, envelope["id"], signers=2)
    await _recorded_certificates(api, envelope["id"], certificates, backend="csc")


async def test_a_trust_service_down_is_waited_for_then_the_signature_lands(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    csc_runtime: Runtime,
    csc: FakeCsc,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    """A 503 from the trust service is a transient failure: the signing job is tried again
    (like a TSA that does not answer), and the signer's signature lands once it is back."""
    tag = _tag()
    names = _verified_names(0)
    csc.add_credential(f"s0+{tag}@example.com", names["first_name"], names["last_name"])
    csc.fail_next("oauth2/token", status=503)
    csc.fail_next("oauth2/token", status=503)

    envelope = await _signed_by_everyone(api, base_url, mail, csc_runtime, tag, signers=1)
    assert envelope["status"] == "completed"
    assert not csc.script  # both failures were met, then it worked
    signed = await _document(api, envelope["id"])
    (certificate,) = _signers_certificates(signed)
    _names_the_verified_person(certificate, 0)
    types = [e["type"] for e in await _events(api, envelope["id"])]
    assert types.count("recipient.signed") == 1  # one signature, however many attempts
