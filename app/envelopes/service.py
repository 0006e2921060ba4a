"""Use cases of the drafting API on envelopes themselves: load, create, edit, list, delete.

Services flush, never commit: the caller owns the transaction. Recipients, stamps and
documents have modules of their own beside this one.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.activity import Step
from app.envelopes.models import (
    Document,
    Envelope,
    EnvelopeKind,
    EnvelopeStatus,
    Level,
    Recipient,
)
from app.envelopes.people import recipient_email, sender_email
from app.envelopes.schemas import EnvelopeCreate, EnvelopeUpdate, SenderIn
from app.errors import BadRequest, Conflict, FieldError, NotFound, ValidationFailed
from app.evidence.schemas import EventType
from app.tenants.models import User
from app.tenants.service import Principal

NULLABLE_ENVELOPE_FIELDS = frozenset({"name", "message", "expires_at", "reminders"})


# --- loading ----------------------------------------------------------------------------


def _envelope_query(principal: Principal) -> Select[Envelope]:
    return (
        select(Envelope)
        .where(Envelope.tenant_id == principal.tenant_id)
        .options(
            selectinload(Envelope.sender_user),
            selectinload(Envelope.documents).selectinload(Document.stamps),
            selectinload(Envelope.recipients).selectinload(Recipient.user),
        )
    )


async def get_envelope(
    session: AsyncSession, principal: Principal, envelope_id: uuid.UUID, *, lock: bool = False
) -> Envelope:
    query = _envelope_query(principal).where(Envelope.id == envelope_id)
    if lock:
        # Serialises every change to one envelope: budget and positions are checked under it.
        query = query.with_for_update(of=Envelope)
    envelope = await session.scalar(query.execution_options(populate_existing=lock))
    if envelope is None:
        raise NotFound("envelope")
    return envelope


async def get_draft(
    session: AsyncSession, principal: Principal, envelope_id: uuid.UUID
) -> Envelope:
    envelope = await get_envelope(session, principal, envelope_id, lock=True)
    require_draft(envelope.status)
    return envelope


def require_draft(status: EnvelopeStatus) -> None:
    if status is not EnvelopeStatus.draft:
        raise Conflict("envelope_not_draft", "Only a draft envelope can be changed.")


def find_document(envelope: Envelope, document_id: uuid.UUID) -> Document:
    for document in envelope.documents:
        if document.id == document_id:
            return document
    raise NotFound("document")


def find_recipient(envelope: Envelope, recipient_id: uuid.UUID) -> Recipient:
    for recipient in envelope.recipients:
        if recipient.id == recipient_id:
            return recipient
    raise NotFound("recipient")


# --- envelopes --------------------------------------------------------------------------


async def create_envelope(
    session: AsyncSession, step: Step, principal: Principal, data: EnvelopeCreate
) -> Envelope:
    level = _level_for(data.kind, data.level)
    _check_expiry(data.expires_at, step.now)
    envelope = Envelope(
        id=uuid.uuid4(),
        tenant_id=principal.tenant_id,
        kind=data.kind,
        status=EnvelopeStatus.draft,
        name=data.name,
        message=data.message,
        level=level,
        sender_signs_first=data.sender_signs_first,
        distribute_to_signers=data.distribute_to_signers,
        sender_copy=data.sender_copy,
        expires_at=data.expires_at,
        reminder_interval_days=data.reminders.interval_days if data.reminders else None,
        reminder_max_count=data.reminders.max_count if data.reminders else None,
        locale=data.locale,
        documents=[],
        recipients=[],
    )
    await _apply_sender(session, principal, envelope, data.sender)
    session.add(envelope)
    if data.sender_signs_first:
        _add_sender_recipient(envelope)
    await session.flush()
    await step.record(session, envelope, EventType.envelope_created, kind=envelope.kind.value)
    await session.refresh(envelope, ["created_at", "updated_at"])
    return envelope


async def update_envelope(
    session: AsyncSession,
    step: Step,
    principal: Principal,
    envelope_id: uuid.UUID,
    data: EnvelopeUpdate,
) -> Envelope:
    envelope = await get_draft(session, principal, envelope_id)
    given = data.model_fields_set
    for name in given - NULLABLE_ENVELOPE_FIELDS:
        if getattr(data, name) is None and not (
            name == "level" and envelope.kind is EnvelopeKind.approval
        ):
            raise ValidationFailed.at(f"/{name}", f"{name} cannot be null")
    simple_fields = {"name", "message", "distribute_to_signers", "sender_copy", "locale"}
    for name in given & simple_fields:
        setattr(envelope, name, getattr(data, name))
    if "level" in given:
        envelope.level = _level_for(envelope.kind, data.level)
    if "expires_at" in given:
        _check_expiry(data.expires_at, step.now)
        envelope.expires_at = data.expires_at
    if "reminders" in given:
        envelope.reminder_interval_days = data.reminders.interval_days if data.reminders else None
        envelope.reminder_max_count = data.reminders.max_count if data.reminders else None
    if data.sender is not None:
        await _apply_sender(session, principal, envelope, data.sender)
        _sync_sender_recipient(envelope)
    if data.sender_signs_first is not None:
        _set_sender_signs_first(envelope, data.sender_signs_first)
    envelope.updated_at = step.now
    await session.flush()
    return envelope


async def delete_envelope(
    session: AsyncSession, principal: Principal, envelope_id: uuid.UUID
) -> None:
    envelope = await get_draft(session, principal, envelope_id)
    # The database cascades to documents, recipients and stamps; deleting them one by one
    # through the ORM would delete some stamps twice (once per parent).
    await session.execute(delete(Envelope).where(Envelope.id == envelope.id))
    session.expunge(envelope)


@dataclass(frozen=True)
class EnvelopeFilter:
    status: EnvelopeStatus | None = None
    kind: EnvelopeKind | None = None


async def list_envelopes(
    session: AsyncSession,
    principal: Principal,
    *,
    filters: EnvelopeFilter,
    cursor: str | None,
    limit: int,
) -> tuple[list[Envelope], str | None]:
    """Newest first, keyset-paginated on (created_at, id) so pages never skip or repeat."""
    query = _envelope_query(principal)
    if filters.status is not None:
        query = query.where(Envelope.status == filters.status)
    if filters.kind is not None:
        query = query.where(Envelope.kind == filters.kind)
    if cursor is not None:
        created_at, last_id = decode_cursor(cursor)
        query = query.where(tuple_(Envelope.created_at, Envelope.id) < (created_at, last_id))
    query = query.order_by(Envelope.created_at.desc(), Envelope.id.desc()).limit(limit + 1)
    rows = list((await session.scalars(query)).all())
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor(page[-1])


def encode_cursor(envelope: Envelope) -> str:
    raw = json.dumps([envelope.created_at.isoformat(), str(envelope.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, last_id = json.loads(raw)
        return datetime.fromisoformat(created_at), uuid.UUID(last_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadRequest("invalid_cursor", "The cursor is not one this API returned.") from exc


def _level_for(kind: EnvelopeKind, level: Level | None) -> Level | None:
    if kind is EnvelopeKind.approval:
        if level is not None:
            raise ValidationFailed.at("/level", "approval envelopes have no signature level")
        return None
    return level or Level.simple


def _check_expiry(expires_at: datetime | None, now: datetime) -> None:
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed.at("/expires_at", "expires_at must be in the future")


# --- the sender, and their place in the queue ------------------------------------------


async def resolve_user(
    session: AsyncSession, principal: Principal, external_id: str, pointer: str
) -> User:
    user = await session.scalar(
        select(User).where(User.tenant_id == principal.tenant_id, User.external_id == external_id)
    )
    if user is None:
        raise ValidationFailed.at(pointer, f"no user {external_id!r} in the user directory")
    return user


async def _apply_sender(
    session: AsyncSession, principal: Principal, envelope: Envelope, sender: SenderIn
) -> None:
    if sender.user_id is not None:
        envelope.sender_user = await resolve_user(
            session, principal, sender.user_id, "/sender/user_id"
        )
        envelope.sender_email = envelope.sender_first_name = envelope.sender_last_name = None
    else:
        envelope.sender_user = None
        envelope.sender_email = sender.email
        envelope.sender_first_name = sender.first_name
        envelope.sender_last_name = sender.last_name


def sender_recipient(envelope: Envelope) -> Recipient | None:
    return next((r for r in envelope.recipients if r.is_sender), None)


def _add_sender_recipient(envelope: Envelope) -> None:
    refuse_duplicate(envelope, sender_email(envelope), "/sender_signs_first")
    for recipient in envelope.recipients:
        recipient.position += 1
    sender = Recipient(
        id=uuid.uuid4(),
        tenant_id=envelope.tenant_id,
        position=1,
        is_sender=True,
        locale=envelope.locale,
    )
    envelope.recipients.insert(0, sender)
    _sync_sender_recipient(envelope)


def _sync_sender_recipient(envelope: Envelope) -> None:
    recipient = sender_recipient(envelope)
    if recipient is None:
        return
    recipient.user = envelope.sender_user
    recipient.email = envelope.sender_email
    recipient.first_name = envelope.sender_first_name
    recipient.last_name = envelope.sender_last_name


def _set_sender_signs_first(envelope: Envelope, wanted: bool) -> None:
    present = sender_recipient(envelope)
    envelope.sender_signs_first = wanted
    if wanted and present is None:
        _add_sender_recipient(envelope)
    elif not wanted and present is not None:
        envelope.recipients.remove(present)
        renumber(envelope)


def renumber(envelope: Envelope) -> None:
    for position, recipient in enumerate(envelope.recipients, start=1):
        recipient.position = position


def refuse_duplicate(
    envelope: Envelope, email: str, pointer: str, *, ignore: Recipient | None = None
) -> None:
    for recipient in envelope.recipients:
        if recipient is not ignore and recipient_email(recipient).lower() == email.lower():
            raise ValidationFailed(
                "duplicate_recipient",
                f"{email} is already a recipient of this envelope",
                [FieldError(pointer, "already a recipient of this envelope")],
            )
