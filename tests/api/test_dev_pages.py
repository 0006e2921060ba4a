"""Development conveniences for the walkthroughs: a sample PDF the gate accepts, the SMS
outbox, and the link's page showing the SMS calls at eIDAS levels."""

from __future__ import annotations

import uuid

import httpx

from app.runtime import Runtime
from tests.support import ApiClient
from tests.workflow.eidas_support import sent_eidas_envelope


async def test_the_sample_pdf_passes_the_gate(api: ApiClient, base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        sample = await client.get("/dev/sample.pdf")
    assert sample.status_code == 200 and sample.headers["content-type"] == "application/pdf"
    envelope = await api.envelope(kind="signature")
    uploaded = await api.upload(envelope["id"], sample.content, filename="sample.pdf")
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["page_count"] == 1


async def test_the_link_page_shows_the_sms_calls_at_eidas_levels(
    api: ApiClient, base_url: str, runtime: Runtime
) -> None:
    envelope = await sent_eidas_envelope(api, runtime, uuid.uuid4().hex[:8], signers=1)
    token = runtime.secrets.link_token(uuid.UUID(envelope["recipients"][0]["id"]))
    async with httpx.AsyncClient(base_url=base_url) as client:
        page = await client.get(f"/sign/{token}")
        outbox = await client.get("/dev/sms")
    assert page.status_code == 200
    assert "/v1/signing/otp" in page.text and "/dev/sms" in page.text
    assert outbox.status_code == 200 and isinstance(outbox.json()["data"], list)
