"""No link token, session secret or API key is stored in clear anywhere in the database."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from app.db import transaction
from app.runtime import Runtime
from tests.support import ApiClient
from tests.support.sinks import MailSink, link_token
from tests.workflow.support import approval_envelope, open_invitation, send


async def _database_as_text(runtime: Runtime) -> str:
    """Every row of every table, as PostgreSQL prints it (bytea decoded where it holds JSON)."""
    async with transaction(runtime.sessions) as session:
        tables = (
            await session.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))
        ).scalars()
        dump = []
        for table in list(tables):
            rows = await session.execute(text(f'SELECT t::text FROM "{table}" t'))
            dump += [row[0] for row in rows]
        payloads = await session.execute(
            text("SELECT convert_from(payload, 'UTF8') FROM pgqueuer WHERE payload IS NOT NULL")
        )
        dump += [row[0] for row in payloads]
    return "\n".join(dump)


async def test_tokens_sessions_and_keys_are_stored_only_as_hashes(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    envelope, approvers = await approval_envelope(api, approvers=1, tag=uuid.uuid4().hex[:8])
    await send(api, envelope["id"])
    token = link_token((await mail.wait_for(approvers[0]["email"]))[0])
    async with open_invitation(base_url, mail, approvers[0]["email"]) as recipient:
        session_secret = recipient.headers["Authorization"].removeprefix("Bearer ")
        dump = await _database_as_text(runtime)
    assert envelope["id"] in dump  # the dump does hold the envelope's rows
    for secret in (token, session_secret, api.tenant_key):
        assert secret not in dump
