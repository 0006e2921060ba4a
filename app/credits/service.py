"""The credit ledger's use cases. Send reserves one credit per signer of an eIDAS envelope,
a signature consumes its signer's, and an envelope that ends early releases what was not
consumed; balances are sums over the ledger.

Reservations for one tenant and level are serialised by a transaction-scoped advisory lock,
so two sends racing for the last credit cannot both take it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.activity import Step
from app.credits.models import CreditEntry, CreditKind
from app.envelopes.models import Envelope, Level, Recipient
from app.errors import PaymentRequired
from app.evidence.schemas import EventType

PAID_LEVELS: tuple[Level, ...] = (Level.eidas_simple, Level.eidas_advanced)


@dataclass(frozen=True)
class Balance:
    granted: int = 0
    reserved: int = 0
    consumed: int = 0

    @property
    def available(self) -> int:
        """What a new send can still reserve."""
        return self.granted - self.reserved - self.consumed


async def balances(session: AsyncSession, tenant_id: uuid.UUID) -> dict[Level, Balance]:
    """Every paid level's balance, in one query over the ledger."""
    rows = await session.execute(
        select(CreditEntry.level, CreditEntry.kind, func.sum(CreditEntry.amount))
        .where(CreditEntry.tenant_id == tenant_id)
        .group_by(CreditEntry.level, CreditEntry.kind)
    )
    sums: dict[tuple[Level, CreditKind], int] = {
        (level, kind): int(total) for level, kind, total in rows
    }
    return {level: _balance(sums, level) for level in PAID_LEVELS}


def _balance(sums: dict[tuple[Level, CreditKind], int], level: Level) -> Balance:
    def total(kind: CreditKind) -> int:
        return sums.get((level, kind), 0)

    settled = total(CreditKind.consumption) + total(CreditKind.release)
    return Balance(
        granted=total(CreditKind.grant),
        reserved=total(CreditKind.reservation) - settled,
        consumed=total(CreditKind.consumption),
    )


async def grant(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    level: Level,
    amount: int,
    *,
    now: datetime,
    reason: str | None = None,
) -> CreditEntry:
    if level not in PAID_LEVELS:
        raise ValueError(f"{level.value} costs no credits")
    if amount <= 0:
        raise ValueError("a grant is a positive number of credits")
    entry = CreditEntry(
        tenant_id=tenant_id,
        level=level,
        kind=CreditKind.grant,
        amount=amount,
        reason=reason,
        created_at=now,
    )
    session.add(entry)
    await session.flush()
    return entry


async def grant_once(
    session: AsyncSession, tenant_id: uuid.UUID, amount: int, *, now: datetime, reason: str
) -> bool:
    """Grants `amount` at every paid level to a tenant that was never granted any (the
    development tenant's starting credits, as on the seed's screen); whether it did."""
    granted = await session.scalar(
        select(CreditEntry.id).where(
            CreditEntry.tenant_id == tenant_id, CreditEntry.kind == CreditKind.grant
        )
    )
    if granted is not None:
        return False
    for level in PAID_LEVELS:
        await grant(session, tenant_id, level, amount, now=now, reason=reason)
    return True


def signers_paying(envelope: Envelope) -> list[Recipient]:
    """Who costs a credit: every signer of an envelope at a paid level; nobody otherwise."""
    return list(envelope.recipients) if envelope.level in PAID_LEVELS else []


async def reserve(session: AsyncSession, step: Step, envelope: Envelope) -> None:
    """At send, in its transaction: one credit per signer, or 402 insufficient_credits."""
    paying = signers_paying(envelope)
    if not paying or envelope.level is None:
        return
    await _lock(session, envelope.tenant_id, envelope.level)
    balance = (await balances(session, envelope.tenant_id))[envelope.level]
    if balance.available < len(paying):
        raise PaymentRequired(
            "insufficient_credits",
            f"Sending at {envelope.level.value} takes {len(paying)} credit(s) (one per signer); "
            f"{balance.available} available.",
            required=len(paying),
            available=balance.available,
        )
    await _write(session, step, envelope, paying, CreditKind.reservation)
    await step.record(
        session,
        envelope,
        EventType.credits_reserved,
        level=envelope.level.value,
        count=len(paying),
    )


async def consume(session: AsyncSession, step: Step, envelope: Envelope, signer: Recipient) -> None:
    """A signer of a paid envelope signed: their reserved credit is spent."""
    if signer not in signers_paying(envelope) or not await _open_reservations(
        session, envelope, [signer]
    ):
        return
    await _write(session, step, envelope, [signer], CreditKind.consumption)
    await step.record(
        session,
        envelope,
        EventType.credits_consumed,
        level=_level(envelope),
        recipient_id=str(signer.id),
    )


async def release_unconsumed(session: AsyncSession, step: Step, envelope: Envelope) -> None:
    """The envelope ended early (declined, canceled, expired, failed): what was reserved and
    not consumed comes back."""
    pending = await _open_reservations(session, envelope, signers_paying(envelope))
    if not pending:
        return
    await _write(session, step, envelope, pending, CreditKind.release)
    await step.record(
        session, envelope, EventType.credits_released, level=_level(envelope), count=len(pending)
    )


async def _open_reservations(
    session: AsyncSession, envelope: Envelope, signers: Sequence[Recipient]
) -> list[Recipient]:
    """The signers among `signers` whose reservation is neither consumed nor released."""
    if not signers:
        return []
    rows = await session.execute(
        select(CreditEntry.recipient_id, CreditEntry.kind).where(
            CreditEntry.envelope_id == envelope.id
        )
    )
    reserved: set[uuid.UUID | None] = set()
    settled: set[uuid.UUID | None] = set()
    for recipient_id, kind in rows:
        (reserved if kind is CreditKind.reservation else settled).add(recipient_id)
    return [s for s in signers if s.id in reserved and s.id not in settled]


async def _write(
    session: AsyncSession,
    step: Step,
    envelope: Envelope,
    signers: Sequence[Recipient],
    kind: CreditKind,
) -> None:
    assert envelope.level is not None
    session.add_all(
        CreditEntry(
            tenant_id=envelope.tenant_id,
            level=envelope.level,
            kind=kind,
            amount=1,
            envelope_id=envelope.id,
            recipient_id=signer.id,
            created_at=step.now,
        )
        for signer in signers
    )
    await session.flush()


async def _lock(session: AsyncSession, tenant_id: uuid.UUID, level: Level) -> None:
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"credits:{tenant_id}:{level.value}"},
    )


def _level(envelope: Envelope) -> str:
    assert envelope.level is not None
    return envelope.level.value


async def ledger_page(
    session: AsyncSession, tenant_id: uuid.UUID, *, after: int | None, limit: int
) -> list[CreditEntry]:
    """Oldest first; `after` is the last id of the previous page."""
    query = select(CreditEntry).where(CreditEntry.tenant_id == tenant_id)
    if after is not None:
        query = query.where(CreditEntry.id > after)
    return list((await session.scalars(query.order_by(CreditEntry.id).limit(limit))).all())
