"""Idempotency-Key on mutating POSTs: claim the key before the work, remember the answer after,
and replay the first answer to a retry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.activity import Step
from app.idempotency.service import IdempotentCall, claim, fingerprint, remember
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

Answer = dict[str, Any]


async def answer_once(
    session: AsyncSession,
    step: Step,
    principal: Principal,
    *,
    operation: str,
    key: str | None,
    payload: Any,
    status_code: int,
    work: Callable[[], Awaitable[Answer]],
    headers_for: Callable[[Answer], dict[str, str]] = lambda answer: {},
) -> JSONResponse:
    """Does the work and answers; with a key, the first answer is kept and a retry with the
    same key and payload gets it back (Idempotent-Replayed: true) without the work."""
    call = IdempotentCall(operation, key, fingerprint(payload)) if key is not None else None
    if call is not None:
        ttl = timedelta(hours=step.settings.idempotency_ttl_hours)
        replay = await claim(session, principal, call, ttl=ttl, now=step.now)
        if replay is not None:
            headers = {**headers_for(replay.body), "Idempotent-Replayed": "true"}
            return JSONResponse(replay.body, status_code=replay.status_code, headers=headers)
    content = await work()
    if call is not None:
        await remember(session, principal, call, status_code=status_code, body=content)
    return JSONResponse(content, status_code=status_code, headers=headers_for(content))
