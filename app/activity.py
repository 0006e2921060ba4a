"""Recording what happened to an envelope: the evidence log, and the webhooks it fans out to.

Below both the drafting API (`envelopes`) and the running workflow (`workflow`): each records
its own events through `Step.record`, in the transaction of the change.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.crypto import SecretBox
from app.evidence.models import Event
from app.evidence.schemas import EventType
from app.evidence.service import NO_ORIGIN, SYSTEM, Actor, Origin, append_event
from app.runtime import Runtime
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


@dataclass(frozen=True)
class Step:
    """What every step of an envelope needs besides the session: the time, the settings, the
    keys, and who acts from where."""

    now: datetime
    settings: Settings
    secrets: SecretBox
    actor: Actor = SYSTEM
    origin: Origin = NO_ORIGIN

    def by(self, actor: Actor) -> Step:
        """The same step, done by someone else (the recipient behind a session, say)."""
        return dataclasses.replace(self, actor=actor)

    async def record(
        self, session: AsyncSession, envelope: EnvelopeRef, type: EventType, **data: Any
    ) -> Event:
        """Appends the event to the envelope's evidence chain (the caller holds the envelope's
        row lock) and writes a webhook delivery per subscribed endpoint, in this transaction."""
        event = await append_event(
            session,
            tenant_id=envelope.tenant_id,
            envelope_id=envelope.id,
            type=type.value,
            actor=self.actor,
            occurred_at=self.now,
            secrets=self.secrets,
            origin=self.origin,
            data=data,
        )
        await fan_out(session, event, now=self.now)
        return event


def step_at(runtime: Runtime, *, actor: Actor = SYSTEM, origin: Origin = NO_ORIGIN) -> Step:
    """A step at the service clock's now: the one way every caller builds one."""
    return Step(
        now=runtime.clock.now(),
        settings=runtime.settings,
        secrets=runtime.secrets,
        actor=actor,
        origin=origin,
    )
