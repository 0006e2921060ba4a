"""Recipients' links and sessions.

The emailed link carries a token (256 bits, derived from the secret key, stored only as a
SHA-256). Presenting it opens a short-lived session; only that POST records "opened": mail
scanners that pre-fetch links with GET change nothing.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activity import Step
from app.config import Settings
from app.crypto import sha256_hex
from app.envelopes.models import Envelope, EnvelopeStatus, Recipient, RecipientStatus
from app.envelopes.states import move_recipient
from app.errors import Gone, NotFound, Unauthenticated
from app.evidence.schemas import EventType
from app.workflow.loading import load_envelope
from app.workflow.models import RecipientSession

SESSION_PREFIX = "cachet_rs_"

# A link, and a session, still open a completed envelope (to read and download the result);
# any other end closes both at once.
CLOSED_TO_LINKS = frozenset(
    {
        EnvelopeStatus.declined,
        EnvelopeStatus.canceled,
        EnvelopeStatus.expired,
        EnvelopeStatus.failed,
    }
)


@dataclass(frozen=True)
class OpenedSession:
    secret: str
    session: RecipientSession
    recipient: Recipient
    envelope: Envelope


async def open_session(session: AsyncSession, step: Step, token: str) -> OpenedSession:
    recipient = await session.scalar(
        select(Recipient).where(Recipient.token_hash == sha256_hex(token))
    )
    if recipient is None:
        raise NotFound("link")
    envelope = await load_envelope(session, recipient.envelope_id, lock=True)
    recipient = next(r for r in envelope.recipients if r.id == recipient.id)
    _require_open(envelope)
    if recipient.status is RecipientStatus.invited:
        move_recipient(recipient, RecipientStatus.opened)
        recipient.opened_at = step.now
        await step.record(
            session, envelope, EventType.recipient_opened, recipient_id=str(recipient.id)
        )
    secret = SESSION_PREFIX + secrets.token_urlsafe(32)
    row = RecipientSession(
        id=uuid.uuid4(),
        tenant_id=recipient.tenant_id,
        recipient_id=recipient.id,
        secret_hash=sha256_hex(secret),
        ip=step.origin.ip,
        user_agent=step.origin.user_agent,
        created_at=step.now,
        last_seen_at=step.now,
    )
    session.add(row)
    await session.flush()
    return OpenedSession(secret, row, recipient, envelope)


def _require_open(envelope: Envelope) -> None:
    if envelope.status in CLOSED_TO_LINKS:
        raise Gone("envelope_ended", f"The envelope is {envelope.status.value}.")


@dataclass(frozen=True)
class Holder:
    """Who holds a session: their envelope (locked or not), themselves, and which session."""

    envelope: Envelope
    recipient: Recipient
    session_id: uuid.UUID


# Each request pushes the idle deadline back, but writes it only once a minute: reading the
# envelope twice in a minute costs no UPDATE (the deadline moves a minute less at most).
LAST_SEEN_EVERY = timedelta(minutes=1)


async def session_holder(session: AsyncSession, step: Step, secret: str, *, lock: bool) -> Holder:
    """The envelope and recipient behind a session secret. Ending the envelope (cancel,
    decline, expiry, failure) ends all of its sessions at once: 410 `envelope_ended`."""
    row, envelope_id = await authenticate_session(session, step, secret)
    envelope = await load_envelope(session, envelope_id, lock=lock)
    _require_open(envelope)
    recipient = next(r for r in envelope.recipients if r.id == row.recipient_id)
    return Holder(envelope, recipient, row.id)


async def authenticate_session(
    session: AsyncSession, step: Step, secret: str
) -> tuple[RecipientSession, uuid.UUID]:
    """The session and its recipient's envelope id. A session lives while it is used (each
    request pushes its idle deadline back), and never longer than CACHET_SESSION_MAX_SECONDS
    after it was opened."""
    found = (
        await session.execute(
            select(RecipientSession, Recipient.envelope_id)
            .join(Recipient, Recipient.id == RecipientSession.recipient_id)
            .where(RecipientSession.secret_hash == sha256_hex(secret))
        )
    ).first()
    if found is None or session_expires_at(found[0], step.settings) < step.now:
        raise Unauthenticated(
            "session_expired", "The session is unknown or expired; open the link again."
        )
    row, envelope_id = found
    if step.now - row.last_seen_at >= LAST_SEEN_EVERY:
        row.last_seen_at = step.now
    return row, envelope_id


def session_expires_at(row: RecipientSession, settings: Settings) -> datetime:
    """The idle deadline, or the absolute one if that comes first."""
    idle = row.last_seen_at + timedelta(minutes=settings.recipient_session_idle_minutes)
    absolute = row.created_at + timedelta(seconds=settings.session_max_seconds)
    return min(idle, absolute)
