"""A document signed by Cachet, then altered in any way, is reported as not passed.

The tampering helpers are the ones tests/signing/test_validations.py applies to files signed by
pyHanko directly; here they hit what the service itself produced (B-T signature, then B-LTA).
Cutting the file back to an earlier revision leaves every remaining signature valid: only the
service's records can tell, and POST /v1/validations names the envelope and what is missing.
"""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from app.runtime import Runtime
from tests.signing.pdfsig import pdfsig_verdicts
from tests.signing.test_validations import drawn_on_after_signing, overwritten_signature_value
from tests.signing.testpki import TestPki
from tests.support import ApiClient, make_pdf, padded_pdf
from tests.support.sinks import MailSink
from tests.workflow.signing_support import (
    put_stamp,
    sent_signature_envelope,
    sign,
    signature_png,
    wait_until_signed,
    write,
)
from tests.workflow.support import open_invitation, send


def changed_page_size(data: bytes) -> bytes:
    """(a) One digit of the page's MediaBox, in the uploaded bytes every signature covers."""
    assert data.count(b"595.28") >= 1
    return data.replace(b"595.28", b"595.29", 1)


@pytest.fixture
async def cachet_signed(api: ApiClient, base_url: str, mail: MailSink) -> bytes:
    """A one-signer envelope, completed: its signed PDF as the service hands it out."""
    address = f"tamper-{uuid.uuid4().hex[:8]}@example.com"
    envelope = await api.envelope(kind="signature", name="Tamper")
    upload = await api.upload(envelope["id"], make_pdf(), filename="t.pdf")
    signer = await api.add_recipient(envelope["id"], email=address)
    await put_stamp(api, envelope["id"], upload.json()["id"], signer["id"])
    await send(api, envelope["id"])
    async with open_invitation(base_url, mail, address) as browser:
        assert (await sign(browser, signature_png())).status_code == 202
        await wait_until_signed(browser)
    url = f"/v1/envelopes/{envelope['id']}/documents/{upload.json()['id']}/content"
    return (await api.get(url)).content


async def _validate(api: ApiClient, data: bytes, **query: str) -> dict[str, Any]:
    response = await api.post(
        "/v1/validations",
        content=data,
        params=query,
        headers={"Content-Type": "application/pdf"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def _signer_field(report: dict[str, Any]) -> str:
    field: str = next(s["field_name"] for s in report["signatures"] if s["kind"] == "signature")
    return field


async def test_the_untouched_file_passes(api: ApiClient, cachet_signed: bytes) -> None:
    report = await _validate(api, cachet_signed)
    assert report["verdict"] == "passed", report
    assert [s["kind"] for s in report["signatures"]] == ["signature", "document_timestamp"]
    signature = report["signatures"][0]
    assert (signature["pades_level"], signature["revocation_data_embedded"]) == ("B-LTA", True)
    assert report["unsigned_fields"] == []
    envelope = report["envelope"]
    assert envelope is not None
    assert (envelope["file_version"], envelope["envelope_status"]) == ("latest", "completed")
    assert (envelope["signers"], envelope["signed"], envelope["signed_in_file"]) == (1, 1, 1)
    assert (envelope["missing"], envelope["pending"]) == ([], [])
    # Strict: every certificate's revocation data is in the file.
    strict = await _validate(api, cachet_signed, revocation="hard")
    assert (strict["verdict"], strict["revocation"]) == ("passed", "hard"), strict


ETSI = "{http://uri.etsi.org/19102/v1.2.1#}"


async def etsi_indications(api: ApiClient, data: bytes, **query: str) -> list[str]:
    """POST /v1/validations with Accept: application/xml: each signature's main indication."""
    response = await api.post(
        "/v1/validations",
        content=data,
        params=query,
        headers={"Content-Type": "application/pdf", "Accept": "application/xml"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == f"{ETSI}ValidationReport"
    reports = root.findall(f"{ETSI}SignatureValidationReport")
    return [
        (r.findtext(f"{ETSI}SignatureValidationStatus/{ETSI}MainIndication") or "").rsplit(":")[-1]
        for r in reports
    ]


async def test_the_etsi_report_of_the_signed_file(api: ApiClient, cachet_signed: bytes) -> None:
    assert await etsi_indications(api, cachet_signed) == ["total-passed"]
    assert await etsi_indications(api, cachet_signed, revocation="hard") == ["total-passed"]
    # Cut back before the archive timestamp, strictly: no validation data for the signature.
    before_archive = cut_back(cachet_signed, lambda sigs: sigs == ["/Sig"])
    assert await etsi_indications(api, before_archive, revocation="hard") == ["indeterminate"]


async def test_another_tenant_learns_nothing_of_the_envelope(
    other_api: ApiClient, cachet_signed: bytes
) -> None:
    report = await _validate(other_api, cachet_signed)
    assert (report["verdict"], report["envelope"]) == ("passed", None)


async def test_cut_back_before_the_archive_timestamp_is_not_passed(
    api: ApiClient, cachet_signed: bytes
) -> None:
    """Today every validator accepts the file as it was before the archive timestamp."""
    before_archive = cut_back(cachet_signed, lambda sigs: sigs == ["/Sig"])
    report = await _validate(api, before_archive)
    assert report["signatures"][0]["verdict"] == "passed"  # the signature itself is sound
    assert report["verdict"] == "failed", report
    envelope = report["envelope"]
    assert envelope["file_version"] == "earlier"
    assert envelope["missing"] == ["the archive timestamp (PAdES B-LTA) added at completion"]
    assert any(envelope["envelope_id"] in reason for reason in report["reasons"])


async def test_cut_back_to_the_first_of_two_signatures_names_the_missing_signer(
    api: ApiClient, base_url: str, mail: MailSink
) -> None:
    envelope = await sent_signature_envelope(api, "cut-two", signers=2)
    for index in range(2):
        async with open_invitation(base_url, mail, f"s{index}+cut-two@example.com") as signer:
            assert (await sign(signer, signature_png())).status_code == 202
            await wait_until_signed(signer)
    document_id = envelope["documents"][0]["id"]
    url = f"/v1/envelopes/{envelope['id']}/documents/{document_id}/content"
    final = (await api.get(url)).content
    first_only = cut_back(final, lambda sigs: sigs == ["/Sig"])
    report = await _validate(api, first_only)
    assert [s["verdict"] for s in report["signatures"]] == ["passed"]
    assert len(report["unsigned_fields"]) == 1  # the second signer's field, empty again
    assert report["verdict"] == "failed"
    found = report["envelope"]
    assert (found["envelope_id"], found["document_id"]) == (envelope["id"], document_id)
    assert (found["file_version"], found["signed"], found["signed_in_file"]) == ("earlier", 2, 1)
    signature, archive = found["missing"]
    assert signature.startswith("the signature of S1 (signed "), found
    assert archive == "the archive timestamp (PAdES B-LTA) added at completion"


def cut_back(data: bytes, keep: Callable[[list[str]], bool]) -> bytes:
    """The longest earlier revision (cut after a %%EOF line) whose signatures satisfy `keep`
    (their /Type: /Sig or /DocTimeStamp, in order)."""
    for match in reversed(list(re.finditer(rb"%%EOF\r?\n", data))):
        prefix = data[: match.end()]
        reader = PdfFileReader(io.BytesIO(prefix))
        kinds = [str(sig.sig_object_type) for sig in reader.embedded_signatures]
        if prefix != data and keep(kinds):
            return prefix
    raise AssertionError("no such revision")


async def test_a_signed_file_larger_than_the_upload_limit_is_validated(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    """Uploads stop at CACHET_ENVELOPE_SIZE_LIMIT_BYTES; the signed file grows past it, and the
    service must still validate what it produced (CACHET_VALIDATION_MAX_BYTES)."""
    limit = runtime.settings.envelope_size_limit_bytes
    address = f"big-{uuid.uuid4().hex[:8]}@example.com"
    envelope = await api.envelope(kind="signature", name="Big")
    upload = await api.upload(envelope["id"], padded_pdf(limit - 4096), filename="big.pdf")
    assert upload.status_code == 201, upload.text
    signer = await api.add_recipient(envelope["id"], email=address)
    await put_stamp(api, envelope["id"], upload.json()["id"], signer["id"])
    await send(api, envelope["id"])
    async with open_invitation(base_url, mail, address) as browser:
        assert (await sign(browser, signature_png())).status_code == 202
        await wait_until_signed(browser, within=120)
    url = f"/v1/envelopes/{envelope['id']}/documents/{upload.json()['id']}/content"
    signed = (await api.get(url)).content
    assert len(signed) > limit
    report = await _validate(api, signed)
    assert report["verdict"] == "passed", report
    assert report["envelope"]["envelope_id"] == envelope["id"]


@pytest.mark.parametrize(
    ("tamper", "pdfsig_sees_it"),
    [
        pytest.param(lambda data, field: changed_page_size(data), True, id="signed-byte"),
        pytest.param(lambda data, field: drawn_on_after_signing(data), False, id="drawn-on"),
        pytest.param(overwritten_signature_value, True, id="contents-overwritten"),
    ],
)
async def test_each_alteration_is_not_passed(
    api: ApiClient,
    cachet_signed: bytes,
    test_pki: TestPki,
    tmp_path: Path,
    tamper: Callable[[bytes, str], bytes],
    pdfsig_sees_it: bool,
) -> None:
    original = cachet_signed
    field = _signer_field(await _validate(api, original))
    altered = tamper(original, field)
    assert altered != original
    report = await _validate(api, altered)
    assert report["verdict"] == "failed", report
    signature = next(s for s in report["signatures"] if s["field_name"] == field)
    assert signature["verdict"] == "failed", signature
    if pdfsig_sees_it:
        # pdfsig cannot see a later revision drawing on the page; it does see broken bytes.
        verdicts = await asyncio.to_thread(
            pdfsig_verdicts, write(tmp_path, "altered.pdf", altered), test_pki.root_pem
        )
        mine = next(v for v in verdicts if v.field == field)
        assert not mine.valid, mine.raw
