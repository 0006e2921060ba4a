"""With no SMTP server configured, mail lands in a mailbox a newcomer can read over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from app.notifications.mailer import DevMailbox
from app.runtime import Runtime
from tests.support import ApiClient
from tests.workflow.support import approval_envelope, send


async def test_the_invitation_is_readable_at_dev_mailbox(
    api: ApiClient, runtime: Runtime, base_url: str, tmp_path: Path
) -> None:
    smtp = runtime.mailer
    runtime.mailer = DevMailbox(tmp_path / "mail", sender=runtime.settings.mail_from)
    try:
        envelope, approvers = await approval_envelope(api, approvers=1, tag=uuid.uuid4().hex[:8])
        await send(api, envelope["id"])
        async with httpx.AsyncClient(base_url=base_url) as browser:
            for _ in range(200):
                listing = (await browser.get("/dev/mailbox")).json()["data"]
                if any(m["to"] == approvers[0]["email"] for m in listing):
                    break
                await asyncio.sleep(0.05)
            entry = next(m for m in listing if m["to"] == approvers[0]["email"])
            message = (await browser.get(f"/dev/mailbox/{entry['id']}")).json()
            assert "/sign/" in message["text"] and "/sign/" in message["html"]
            assert (await browser.get("/dev/mailbox/..%2Fsecret-key")).status_code == 404
        assert list((tmp_path / "mail").glob("*.eml"))
    finally:
        runtime.mailer = smtp
