"""Development conveniences for the walkthroughs: a sample PDF the gate accepts, and the SMS
outbox where the development provider's codes land."""

from __future__ import annotations

import uuid

import httpx

from app.runtime import Runtime
from tests.support import ApiClient
from tests.workflow.eidas_support import newest_code, sent_eidas_envelope, texts_to
from tests.workflow.support import Recipient


async def test_the_sample_pdf_passes_the_gate(api: ApiClient, base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        sample = await client.get("/dev/sample.pdf")
    assert sample.status_code == 200 and sample.headers["content-type"] == "application/pdf"
    envelope = await api.envelope(kind="signature")
    uploaded = await api.upload(envelope["id"], sample.content, filename="sample.pdf")
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["page_count"] == 1


async def test_the_sms_outbox_lists_the_codes_sent(
    api: ApiClient, base_url: str, runtime: Runtime
) -> None:
    envelope = await sent_eidas_envelope(api, runtime, uuid.uuid4().hex[:8], signers=1)
    recipient_id = envelope["recipients"][0]["id"]
    async with Recipient(base_url=base_url) as signer:
        token = runtime.secrets.link_token(uuid.UUID(recipient_id))
        assert (await signer.open(token)).status_code == 201
        assert (await signer.post("/v1/signing/otp")).status_code == 202
    assert len(await newest_code(base_url, recipient_id)) == 6  # waits for the send job
    assert len(await texts_to(base_url, recipient_id)) == 1
