"""Recording what happened: the evidence log, and the webhook deliveries it fans out to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.evidence.models import Event
from app.evidence.service import NO_ORIGIN, Actor, Origin, append_event
from app.webhooks.service import fan_out


class EnvelopeRef(Protocol):
    @property
    def id(self) -> uuid.UUID: ...

    @property
    def tenant_id(self) -> uuid.UUID: ...


@dataclass(frozen=True)
class Ref:
    """An envelope known by its ids only, for callers that did not load the row."""

    id: uuid.UUID
    tenant_id: uuid.UUID


async def record(
    session: AsyncSession,
    envelope: EnvelopeRef,
    type: str,
    *,
    actor: Actor,
    now: datetime,
    origin: Origin = NO_ORIGIN,
    **data: Any,
) -> Event:
    event = await append_event(
        session,
        tenant_id=envelope.tenant_id,
        envelope_id=envelope.id,
        type=type,
        actor=actor,
        occurred_at=now,
        origin=origin,
        data=data,
    )
    await fan_out(session, event, now=now)
    return event
