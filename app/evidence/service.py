"""Appending to and reading an envelope's evidence log. The caller holds the envelope's row lock."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.crypto import SecretBox
from app.evidence.chain import (
    GENESIS_HASH,
    ChainBreak,
    ChainedEvent,
    StoredLink,
    anchor_mac_message,
    chain_hash,
    event_mac_message,
    find_break,
)
from app.evidence.models import Event, EvidenceChain


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
    secrets: SecretBox,
    origin: Origin = NO_ORIGIN,
    data: dict[str, Any] | None = None,
) -> Event:
    """Appends the next event of the envelope's chain, keyed, and moves the chain's anchor on
    in the same flush (the session's next; queries for events flush first)."""
    chain = await session.get(EvidenceChain, envelope_id)
    chained = ChainedEvent(
        envelope_id=str(envelope_id),
        sequence=(chain.length if chain else 0) + 1,
        type=type,
        occurred_at=occurred_at,
        actor=actor.as_json(),
        ip=origin.ip,
        user_agent=origin.user_agent,
        data=data or {},
    )
    prev_hash = chain.head if chain else GENESIS_HASH
    hash = chain_hash(prev_hash, chained)
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
        hash=hash,
        mac=secrets.evidence_mac(event_mac_message(hash)),
    )
    session.add(event)
    if chain is None:
        chain = EvidenceChain(envelope_id=envelope_id, tenant_id=tenant_id)
        session.add(chain)
    _move_anchor(chain, chained.sequence, hash, secrets)
    # Not flushed: a step's events (and their webhook deliveries) go in one flush, in order.
    return event


def _move_anchor(chain: EvidenceChain, length: int, head: str, secrets: SecretBox) -> None:
    chain.length, chain.head = length, head
    chain.mac = secrets.evidence_mac(anchor_mac_message(str(chain.envelope_id), length, head))


async def envelope_events(session: AsyncSession, envelope_id: uuid.UUID) -> Sequence[Event]:
    await session.flush()  # events of this transaction included (the session does not autoflush)
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
    """Where the stored events of one envelope, in sequence order, stop chaining; or None.
    Anyone can run this check: it needs no key."""
    return find_break(link_of(event) for event in events)


def verify_keyed(
    events: Sequence[Event], chain: EvidenceChain | None, secrets: SecretBox
) -> ChainBreak | None:
    """The public check, then what takes the key: each event's MAC, and the anchor (length,
    head and its MAC), which is what finds a chain cut short."""
    return (
        verify_events(events)
        or _first_bad_mac(events, secrets)
        or _anchor_break(events, chain, secrets)
    )


def _first_bad_mac(events: Sequence[Event], secrets: SecretBox) -> ChainBreak | None:
    for event in events:
        if event.mac is None:
            continue  # written before the chain was keyed (migration 0004): hashes only
        if not secrets.evidence_mac_matches(event_mac_message(event.hash), event.mac):
            return ChainBreak(
                event.sequence,
                "the event's keyed MAC does not match: it was rewritten, or CACHET_SECRET_KEY "
                "is not the key that wrote it",
            )
    return None


def _anchor_break(
    events: Sequence[Event], chain: EvidenceChain | None, secrets: SecretBox
) -> ChainBreak | None:
    length, head = len(events), events[-1].hash if events else None
    if chain is None:
        return ChainBreak(length + 1, "the chain has no anchor")
    if chain.length != length:
        return ChainBreak(
            min(chain.length, length) + 1,
            f"the anchor says the chain holds {chain.length} events; {length} are stored",
        )
    if chain.head != head:
        return ChainBreak(length, "the anchor's head is not the last event's hash")
    message = anchor_mac_message(str(chain.envelope_id), chain.length, chain.head)
    if chain.mac is not None and not secrets.evidence_mac_matches(message, chain.mac):
        return ChainBreak(length, "the anchor's keyed MAC does not match: it was rewritten")
    return None


async def verify_envelope_chain(
    session: AsyncSession, envelope_id: uuid.UUID, secrets: SecretBox
) -> ChainBreak | None:
    anchor = await settled_anchor(session, envelope_id)
    return verify_keyed(await envelope_events(session, envelope_id), anchor, secrets)


async def settled_anchor(session: AsyncSession, envelope_id: uuid.UUID) -> EvidenceChain | None:
    """The chain's anchor, share-locked until the transaction ends: read before the events, so
    that an event committed between the two reads (under READ COMMITTED each statement sees
    its own snapshot) cannot look like a cut chain. A writer moving the anchor waits for us."""
    anchor: EvidenceChain | None = await session.get(
        EvidenceChain, envelope_id, with_for_update={"read": True}, populate_existing=True
    )
    return anchor


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
