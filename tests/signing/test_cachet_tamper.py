"""A document signed by Cachet, then altered in any way, is reported as not passed.

The tampering helpers are the ones tests/signing/test_validations.py applies to files signed by
pyHanko directly; here they hit what the service itself produced (B-T signature, then B-LTA).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.signing.pdfsig import pdfsig_verdicts
from tests.signing.test_validations import drawn_on_after_signing, overwritten_signature_value
from tests.signing.testpki import TestPki
from tests.support import ApiClient, make_pdf
from tests.support.sinks import MailSink
from tests.workflow.signing_support import put_stamp, sign, signature_png, wait_until_signed, write
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


async def _validate(api: ApiClient, data: bytes) -> dict[str, Any]:
    response = await api.post(
        "/v1/validations", content=data, headers={"Content-Type": "application/pdf"}
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
