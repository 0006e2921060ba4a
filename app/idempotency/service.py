"""Idempotency-Key handling inside the request's transaction.

The key is claimed with INSERT … ON CONFLICT DO NOTHING: a concurrent request with the same key
waits on the row until the first commits, then replays its answer. A failed request rolls back
and frees its key, so the client may retry it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ValidationFailed
from app.idempotency.models import IdempotencyRecord
from app.tenants.service import Principal


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class IdempotentCall:
    operation: str
    key: str
    fingerprint: str


def fingerprint(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(
    session: AsyncSession,
    principal: Principal,
    call: IdempotentCall,
    *,
    ttl: timedelta,
    now: datetime,
) -> Replay | None:
    """None: this request goes ahead. A Replay: answer with the first request's result."""
    await _forget_expired(session, principal, call, expired_before=now - ttl)
    inserted = await session.scalar(
        insert(IdempotencyRecord)
        .values(
            tenant_id=principal.tenant_id,
            operation=call.operation,
            key=call.key,
            fingerprint=call.fingerprint,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.key)
    )
    if inserted is not None:
        return None
    record = await session.scalar(select(IdempotencyRecord).where(*_same_call(principal, call)))
    assert record is not None and record.status_code is not None and record.response is not None
    if record.fingerprint != call.fingerprint:
        raise ValidationFailed.at(
            "/",
            "this Idempotency-Key was used with a different request body",
            code="idempotency_key_reused",
        )
    return Replay(record.status_code, record.response)


async def remember(
    session: AsyncSession,
    principal: Principal,
    call: IdempotentCall,
    *,
    status_code: int,
    body: dict[str, Any],
) -> None:
    record = await session.scalar(select(IdempotencyRecord).where(*_same_call(principal, call)))
    assert record is not None
    record.status_code = status_code
    record.response = body
    await session.flush()


def _same_call(principal: Principal, call: IdempotentCall) -> tuple[Any, ...]:
    return (
        IdempotencyRecord.tenant_id == principal.tenant_id,
        IdempotencyRecord.operation == call.operation,
        IdempotencyRecord.key == call.key,
    )


async def _forget_expired(
    session: AsyncSession, principal: Principal, call: IdempotentCall, *, expired_before: datetime
) -> None:
    await session.execute(
        delete(IdempotencyRecord).where(
            *_same_call(principal, call),
            IdempotencyRecord.created_at < expired_before,
        )
    )
