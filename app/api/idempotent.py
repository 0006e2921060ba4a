"""Idempotency-Key on mutating POSTs: claim the key before the work, remember the answer after."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import Header
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.idempotency.service import IdempotentCall, Replay, claim, fingerprint, remember
from app.tenants.service import Principal

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retry safely: the same key and body get the first answer back (72 h).",
    ),
]


async def claim_key(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    *,
    operation: str,
    key: str | None,
    payload: Any,
) -> tuple[IdempotentCall | None, Replay | None]:
    """No key: nothing to do. Else the call to remember later, or the first answer to replay."""
    if key is None:
        return None, None
    call = IdempotentCall(operation, key, fingerprint(payload))
    ttl = timedelta(hours=settings.idempotency_ttl_hours)
    return call, await claim(session, principal, call, ttl=ttl)


async def remember_answer(
    session: AsyncSession,
    principal: Principal,
    call: IdempotentCall | None,
    *,
    status_code: int,
    body: dict[str, Any],
) -> None:
    if call is not None:
        await remember(session, principal, call, status_code=status_code, body=body)
