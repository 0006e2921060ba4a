"""Driving envelopes through the workflow over HTTP, as a platform and its recipients would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.support import ApiClient
from tests.support.sinks import MailSink, link_token


async def approval_envelope(
    api: ApiClient, approvers: int = 3, *, tag: str = "", **fields: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A ready approval envelope with one document and `approvers` recipients."""
    envelope = await api.envelope(kind="approval", name=f"Budget {tag}".strip(), **fields)
    response = await api.upload(envelope["id"], b"quarterly figures\n", filename="budget.txt")
    assert response.status_code == 201, response.text
    recipients = [
        await api.add_recipient(
            envelope["id"], email=f"approver{i}{tag}@example.com", first_name=f"Ap{i}"
        )
        for i in range(1, approvers + 1)
    ]
    return envelope, recipients


async def send(api: ApiClient, envelope_id: str, **headers: str) -> dict[str, Any]:
    response = await api.post(f"/v1/envelopes/{envelope_id}/send", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class Recipient(httpx.AsyncClient):
    """A recipient's browser: opens the emailed link, then acts with the session."""

    async def open(self, token: str) -> httpx.Response:
        response = await self.post("/v1/signing/sessions", json={"token": token})
        if response.status_code == 201:
            self.headers["Authorization"] = f"Bearer {response.json()['session_token']}"
        return response

    async def approve(self, comment: str | None = None) -> httpx.Response:
        return await self.post("/v1/signing/approve", json={"comment": comment})

    async def decline(self, reason: str) -> httpx.Response:
        return await self.post("/v1/signing/decline", json={"reason": reason})

    async def view(self) -> dict[str, Any]:
        response = await self.get("/v1/signing/envelope")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@asynccontextmanager
async def open_invitation(base_url: str, mail: MailSink, address: str) -> AsyncIterator[Recipient]:
    """Waits for the invitation email, follows its link: the recipient with a session."""
    invitation = (await mail.wait_for(address))[0]
    async with Recipient(base_url=base_url, timeout=30) as recipient:
        response = await recipient.open(link_token(invitation))
        assert response.status_code == 201, response.text
        yield recipient
