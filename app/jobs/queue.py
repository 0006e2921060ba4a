"""Enqueueing a job inside the caller's transaction: a rollback takes the job with it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from enum import IntEnum
from typing import Any

from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries
from sqlalchemy.ext.asyncio import AsyncSession


class Priority(IntEnum):
    """Which jobs a busy worker takes first (higher first, then oldest first): under a burst,
    what a person is waiting for goes before what only machines are waiting for. Webhook
    deliveries and sealing wait while the burst lasts; none is dropped."""

    person_waiting = 20  # an SMS code on the screen, a signature being applied
    person_told = 10  # an email: an invitation, a reminder, a completion
    background = 0  # webhooks, sealing, sweeps


async def enqueue(
    session: AsyncSession,
    entrypoint: str,
    payload: Mapping[str, Any],
    *,
    delay: timedelta | None = None,
    dedupe_key: str | None = None,
    priority: Priority = Priority.background,
) -> None:
    """Writes the job through the session's own connection, so it commits or rolls back with it.

    With a dedupe_key, a job already queued or running under that key makes this a no-op.
    """
    connection = await session.connection()
    driver_connection = (await connection.get_raw_connection()).driver_connection
    assert driver_connection is not None
    if not driver_connection.is_in_transaction():
        # SQLAlchemy's asyncpg dialect sends BEGIN with its first statement; a job written
        # before that would commit on its own and outlive a rollback.
        await connection.exec_driver_sql("SELECT 1")
    queries = Queries(AsyncpgDriver(driver_connection))
    body = json.dumps(dict(payload), separators=(",", ":")).encode()
    if dedupe_key is None:
        await queries.enqueue(entrypoint, body, priority=int(priority), execute_after=delay)
    else:
        await queries.enqueue(
            entrypoint,
            body,
            priority=int(priority),
            execute_after=delay,
            dedupe_key=dedupe_key,
            on_conflict="skip",
        )


def decode_payload(raw: bytes | None) -> dict[str, Any]:
    decoded = json.loads(raw or b"{}")
    if not isinstance(decoded, dict):
        raise ValueError("job payload is not a JSON object")
    return decoded
