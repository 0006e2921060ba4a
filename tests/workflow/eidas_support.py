"""eIDAS-level envelopes over HTTP: credits granted, phones given, stamps placed, sent; and the
one-time code read back from the development SMS outbox (GET /dev/sms)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from app.credits.service import grant
from app.db import transaction
from app.envelopes.models import Level
from app.runtime import Runtime
from tests.support import ApiClient, make_pdf
from tests.support.polling import eventually
from tests.workflow.signing_support import put_stamp
from tests.workflow.support import Recipient, send

CODE = re.compile(r"\b(\d{6})\b")


def phone(index: int) -> str:
    return f"+3361234{index:04d}"


async def grant_credits(api: ApiClient, runtime: Runtime, level: str, amount: int) -> None:
    async with transaction(runtime.sessions) as session:
        await grant(session, api.tenant_id, Level(level), amount, now=runtime.clock.now())


async def draft_eidas_envelope(
    api: ApiClient, tag: str, *, signers: int = 2, level: str = "eidas_simple"
) -> dict[str, Any]:
    """A ready eIDAS draft: one PDF, signers `s0+{tag}@example.com`… with phones and plain
    stamps (text is refused at eIDAS levels)."""
    envelope = await api.envelope(kind="signature", name=f"Contrat {tag}", level=level)
    response = await api.upload(envelope["id"], make_pdf(), filename="contrat.pdf")
    assert response.status_code == 201, response.text
    document_id = response.json()["id"]
    for index in range(signers):
        recipient = await api.add_recipient(
            envelope["id"],
            email=f"s{index}+{tag}@example.com",
            first_name=f"Signataire{index}",
            last_name="Martin",
            phone=phone(index),
        )
        await put_stamp(api, envelope["id"], document_id, recipient["id"], x=40 + 200 * index)
    return await api.get_envelope(envelope["id"])


async def sent_eidas_envelope(
    api: ApiClient, runtime: Runtime, tag: str, *, signers: int = 2, level: str = "eidas_simple"
) -> dict[str, Any]:
    await grant_credits(api, runtime, level, signers)
    envelope = await draft_eidas_envelope(api, tag, signers=signers, level=level)
    await send(api, envelope["id"])
    return await api.get_envelope(envelope["id"])


async def texts_to(base_url: str, recipient_id: str) -> list[str]:
    """The development SMS outbox's messages to one recipient, newest first."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        messages = (await client.get("/dev/sms")).json()["data"]
    return [m["text"] for m in messages if m["recipient_id"] == recipient_id]


async def newest_code(base_url: str, recipient_id: str, *, count: int = 1) -> str:
    """The code in the newest SMS to the recipient, once `count` have arrived."""

    async def texts() -> list[str]:
        return await texts_to(base_url, recipient_id)

    found = await eventually(texts, lambda t: len(t) >= count, within=20, what="no SMS code")
    match = CODE.search(found[0])
    assert match is not None, found[0]
    return match.group(1)


async def verify(recipient: Recipient, code: str) -> httpx.Response:
    return await recipient.post("/v1/signing/otp/verify", json={"code": code})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"
