"""Appending to and reading an envelope's evidence log. The caller holds the envelope's row lock."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.evidence.chain import (
    GENESIS_HASH,
    ChainBreak,
    ChainedEvent,
    StoredLink,
    chain_hash,
    find_break,
)
from app.evidence.models import Event


@dataclass(frozen=True)
class Actor:
    """Who caused an event: the platform (API key), a recipient, or the service itself."""

    kind: str
    id: str | None = None
    email: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if value is not None}


SYSTEM = Actor("system")


@dataclass(frozen=True)
class Origin:
    """Where a request came from, when an event has one."""

    ip: str | None = None
    user_agent: str | None = None


NO_ORIGIN = Origin()


async def append_event(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    envelope_id: uuid.UUID,
    type: str,
    actor: Actor,
    occurred_at: datetime,
    origin: Origin = NO_ORIGIN,
    data: dict[str, Any] | None = None,
) -> Event:
    last = await _last_event(session, envelope_id)
    chained = ChainedEvent(
        envelope_id=str(envelope_id),
        sequence=(last.sequence if last else 0) + 1,
        type=type,
        occurred_at=occurred_at,
        actor=actor.as_json(),
        ip=origin.ip,
        user_agent=origin.user_agent,
        data=data or {},
    )
    prev_hash = last.hash if last else GENESIS_HASH
    event = Event(
        tenant_id=tenant_id,
        envelope_id=envelope_id,
        sequence=chained.sequence,
        type=type,
        occurred_at=occurred_at,
        actor=dict(chained.actor),
        ip=origin.ip,
        user_agent=origin.user_agent,
        data=dict(chained.data),
        prev_hash=prev_hash,
        hash=chain_hash(prev_hash, chained),
    )
    session.add(event)
    await session.flush()
    return event


async def _last_event(session: AsyncSession, envelope_id: uuid.UUID) -> Event | None:
    query = (
        select(Event)
        .where(Event.envelope_id == envelope_id)
        .order_by(Event.sequence.desc())
        .limit(1)
    )
    return await session.scalar(query)


async def envelope_events(session: AsyncSession, envelope_id: uuid.UUID) -> Sequence[Event]:
    query = select(Event).where(Event.envelope_id == envelope_id).order_by(Event.sequence)
    return (await session.scalars(query)).all()


def link_of(event: Event) -> StoredLink:
    return StoredLink(
        event=ChainedEvent(
            envelope_id=str(event.envelope_id),
            sequence=event.sequence,
            type=event.type,
            occurred_at=event.occurred_at,
            actor=event.actor,
            ip=event.ip,
            user_agent=event.user_agent,
            data=event.data,
        ),
        prev_hash=event.prev_hash,
        hash=event.hash,
    )


def verify_events(events: Sequence[Event]) -> ChainBreak | None:
    """Where the stored events of one envelope, in sequence order, stop chaining; or None."""
    return find_break(link_of(event) for event in events)


async def verify_envelope_chain(session: AsyncSession, envelope_id: uuid.UUID) -> ChainBreak | None:
    return verify_events(await envelope_events(session, envelope_id))


async def feed_page(
    session: AsyncSession, tenant_id: uuid.UUID, *, after: tuple[int, int] | None, limit: int
) -> Sequence[Event]:
    """The tenant's events in a stable order that never inserts behind a cursor.

    Ids are taken before commit, so a later id can become visible before an earlier one.
    Ordering by the writing transaction's id, and showing only transactions older than every
    transaction still running, makes the order append-only: what a client has passed stays
    passed.
    """
    horizon = text("(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")
    query = (
        select(Event)
        .where(Event.tenant_id == tenant_id, Event.xact_id < horizon)
        .order_by(Event.xact_id, Event.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(Event.xact_id, Event.id) > tuple_(*after))
    return (await session.scalars(query)).all()
