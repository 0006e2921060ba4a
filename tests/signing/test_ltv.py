"""Long-term validation data, hard-fail: the archive timestamp (B-LTA) and its renewal.

The test PKI's Animator serves the TSA, the intermediate's OCSP responder and both CRLs on
loopback; `animator.refused(...)` makes some of them answer 503, as a responder that is down.
Every archived file must pass pyHanko's strict AdES validation offline (revocation data
required, nothing fetched).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from pathlib import Path

import pytest
from asn1crypto.crl import CertificateList
from asn1crypto.ocsp import OCSPResponse
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from app.signing.failures import Unavailable
from app.signing.keys import Seal
from app.signing.ltv import uncovered_certificates
from app.signing.pades import (
    FieldSpec,
    add_archive_timestamp,
    add_signature_fields,
    archive_expiry,
    renew_archive_timestamp,
    sign_field,
)
from app.signing.timestamping import http_timestamper
from tests.signing.ades import strict_ades_verdicts
from tests.signing.samples import text_pdf
from tests.signing.test_pades import order
from tests.signing.testpki import TestPki

FIELD = FieldSpec("Signer1", 0, (56.0, 600.0, 236.0, 660.0), lock_document=True)


@pytest.fixture(scope="module")
def seal(test_pki: TestPki) -> Seal:
    # The HTTP client the service uses (it names its URL when the TSA fails).
    return dataclasses.replace(test_pki.seal(), timestamper=http_timestamper(test_pki.tsa_url))


@pytest.fixture(scope="module")
def signed_pdf(seal: Seal, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One B-T signature, no validation data yet."""
    folder = tmp_path_factory.mktemp("ltv")
    fields = folder / "fields.pdf"
    add_signature_fields(text_pdf(folder / "original.pdf", pages=1), fields, [FIELD])
    signed = folder / "signed.pdf"
    sign_field(fields, signed, order(FIELD.name, "Ana Li"), seal)
    return signed


def _dss(pdf: Path) -> tuple[list[OCSPResponse], list[CertificateList]]:
    with pdf.open("rb") as handle:
        dss = DocumentSecurityStore.read_dss(PdfFileReader(handle))
        ocsps = [OCSPResponse.load(ref.get_object().data) for ref in dss.ocsps]
        crls = [CertificateList.load(ref.get_object().data) for ref in dss.crls]
    return ocsps, crls


def _ocsp_subjects(ocsps: list[OCSPResponse], pki: TestPki) -> set[str]:
    """Which of the test PKI's certificates the OCSP answers are about (by CertID: serial
    numbers alone repeat, each CA counts its own)."""
    found = set()
    for response in ocsps:
        basic = response["response_bytes"]["response"].parsed
        for single in basic["tbs_response_data"]["responses"]:
            cert_id = single["cert_id"]
            for label in ("seal", "interm", "tsa"):
                cert = pki.cert(label)
                issuer_hash = hashlib.sha1(cert["tbs_certificate"]["issuer"].dump()).digest()
                if (cert_id["serial_number"].native, cert_id["issuer_name_hash"].native) == (
                    cert.serial_number,
                    issuer_hash,
                ):
                    found.add(label)
    return found


def _extends(longer: Path, prefix: Path) -> bool:
    return longer.read_bytes().startswith(prefix.read_bytes())


def _files_in(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir()]


async def _strictly_valid(pdf: Path, pki: TestPki) -> None:
    verdicts = await strict_ades_verdicts(pdf, [pki.root])
    assert verdicts and all(v.passed for v in verdicts), verdicts


async def test_archive_embeds_ocsp_for_the_seal_and_crls_for_the_rest(
    signed_pdf: Path, seal: Seal, test_pki: TestPki, tmp_path: Path
) -> None:
    archived = tmp_path / "archived.pdf"
    stamp = await asyncio.to_thread(add_archive_timestamp, signed_pdf, archived, seal)

    assert _extends(archived, signed_pdf)
    ocsps, crls = _dss(archived)
    # OCSP preferred: the seal names the intermediate's responder. The intermediate and the TSA
    # name only CRLs (the root's).
    assert _ocsp_subjects(ocsps, test_pki) == {"seal"}
    assert {crl.issuer.native["common_name"] for crl in crls} >= {"Cachet Test Root CA"}
    await _strictly_valid(archived, test_pki)
    # The TSA certificate is valid until 2050, the root too: the timestamp holds until then.
    assert stamp.expires_at == test_pki.tsa_cert.not_valid_after
    assert archive_expiry(archived) == test_pki.tsa_cert.not_valid_after


async def test_responder_and_crl_server_down_is_unavailable_and_writes_nothing(
    signed_pdf: Path, seal: Seal, test_pki: TestPki, tmp_path: Path
) -> None:
    archived = tmp_path / "archived.pdf"
    with test_pki.animator.refused("ocsp", "crls"), pytest.raises(Unavailable) as raised:
        await asyncio.to_thread(add_archive_timestamp, signed_pdf, archived, seal)
    message = str(raised.value)
    # It names the certificate and where its status should have come from.
    assert "Cachet Test" in message and test_pki.base_url in message, message
    assert _files_in(tmp_path) == []  # nothing at the target, no partial file either


async def test_a_responder_down_falls_back_to_the_crl(
    signed_pdf: Path, seal: Seal, test_pki: TestPki, tmp_path: Path
) -> None:
    archived = tmp_path / "archived.pdf"
    with test_pki.animator.refused("ocsp"):
        await asyncio.to_thread(add_archive_timestamp, signed_pdf, archived, seal)
    ocsps, crls = _dss(archived)
    assert _ocsp_subjects(ocsps, test_pki) == set()
    assert "Cachet Test Issuing CA" in {crl.issuer.native["common_name"] for crl in crls}
    await _strictly_valid(archived, test_pki)


async def test_a_tsa_down_is_unavailable_naming_it(
    signed_pdf: Path, seal: Seal, tmp_path: Path
) -> None:
    down = dataclasses.replace(seal, timestamper=http_timestamper("http://127.0.0.1:9/tsa"))
    with pytest.raises(Unavailable, match=r"timestamp authority at http://127\.0\.0\.1:9/tsa"):
        await asyncio.to_thread(add_archive_timestamp, signed_pdf, tmp_path / "a.pdf", down)
    assert not (tmp_path / "a.pdf").exists()


async def test_renewal_adds_data_for_the_newest_timestamp_and_a_new_one(
    signed_pdf: Path, seal: Seal, test_pki: TestPki, tmp_path: Path
) -> None:
    archived, renewed = tmp_path / "archived.pdf", tmp_path / "renewed.pdf"
    await asyncio.to_thread(add_archive_timestamp, signed_pdf, archived, seal)
    stamp = await asyncio.to_thread(renew_archive_timestamp, archived, renewed, seal)

    assert _extends(renewed, archived)
    with renewed.open("rb") as handle:
        kinds = [s.sig_object_type for s in PdfFileReader(handle).embedded_signatures]
    assert kinds == ["/Sig", "/DocTimeStamp", "/DocTimeStamp"]
    assert stamp.expires_at == test_pki.tsa_cert.not_valid_after
    await _strictly_valid(renewed, test_pki)
    # Renewing needs the TSA's revocation data now: none, no renewal.
    with test_pki.animator.refused("crls"), pytest.raises(Unavailable, match="Cachet Test TSA"):
        await asyncio.to_thread(renew_archive_timestamp, archived, tmp_path / "again.pdf", seal)


async def test_renewing_a_file_never_archived_is_refused(
    signed_pdf: Path, seal: Seal, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="no document timestamp"):
        await asyncio.to_thread(renew_archive_timestamp, signed_pdf, tmp_path / "r.pdf", seal)
    assert archive_expiry(signed_pdf) is None


async def test_a_b_t_signature_is_not_covered_and_strict_ades_says_so(
    signed_pdf: Path, test_pki: TestPki
) -> None:
    """The third opinion can fail: without archived revocation data it is not PASSED."""
    verdicts = await strict_ades_verdicts(signed_pdf, [test_pki.root])
    assert [v.passed for v in verdicts] == [False], verdicts


def test_coverage_names_each_certificate_below_the_root_without_data(test_pki: TestPki) -> None:
    from pyhanko_certvalidator.authority import CertTrustAnchor
    from pyhanko_certvalidator.path import ValidationPath

    path = ValidationPath(
        CertTrustAnchor(test_pki.root), [test_pki.intermediate], test_pki.seal_cert
    )
    assert uncovered_certificates([path], [], []) == [test_pki.intermediate, test_pki.seal_cert]
