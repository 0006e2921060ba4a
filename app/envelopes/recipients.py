"""Use cases of the drafting API on recipients: add, edit, remove, and put in order."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.envelopes.models import Envelope, Recipient
from app.envelopes.schemas import RecipientCreate, RecipientOrder, RecipientUpdate
from app.envelopes.service import (
    find_recipient,
    get_draft,
    refuse_duplicate,
    renumber,
    resolve_user,
    sender_recipient,
)
from app.errors import Conflict, ValidationFailed
from app.tenants.service import Principal


async def add_recipient(
    session: AsyncSession, principal: Principal, envelope_id: uuid.UUID, data: RecipientCreate
) -> Recipient:
    envelope = await get_draft(session, principal, envelope_id)
    recipient = Recipient(
        id=uuid.uuid4(),
        tenant_id=principal.tenant_id,
        envelope_id=envelope.id,
        position=len(envelope.recipients) + 1,
        first_name=data.first_name,
        last_name=data.last_name,
        phone=data.phone,
        locale=data.locale or envelope.locale,
        delivery=data.delivery,
    )
    if data.user_id is not None:
        recipient.user = await resolve_user(session, principal, data.user_id, "/user_id")
        refuse_duplicate(envelope, recipient.user.email, "/user_id")
    else:
        assert data.email is not None
        refuse_duplicate(envelope, data.email, "/email")
        recipient.email = data.email
    envelope.recipients.append(recipient)
    await session.flush()
    return recipient


async def update_recipient(
    session: AsyncSession,
    principal: Principal,
    envelope_id: uuid.UUID,
    recipient_id: uuid.UUID,
    data: RecipientUpdate,
) -> Recipient:
    envelope = await get_draft(session, principal, envelope_id)
    recipient = find_recipient(envelope, recipient_id)
    if recipient.is_sender and {"first_name", "last_name"} & data.model_fields_set:
        raise ValidationFailed.at(
            "/first_name", "the sender's names are changed through the envelope's sender"
        )
    for required in ("locale", "delivery"):
        if required in data.model_fields_set and getattr(data, required) is None:
            raise ValidationFailed.at(f"/{required}", f"{required} cannot be null")
    for name in data.model_fields_set:
        setattr(recipient, name, getattr(data, name))
    await session.flush()
    return recipient


async def delete_recipient(
    session: AsyncSession, principal: Principal, envelope_id: uuid.UUID, recipient_id: uuid.UUID
) -> None:
    envelope = await get_draft(session, principal, envelope_id)
    recipient = find_recipient(envelope, recipient_id)
    if recipient.is_sender:
        raise Conflict(
            "sender_recipient",
            "The sender signs first; set sender_signs_first to false to remove them.",
        )
    envelope.recipients.remove(recipient)
    renumber(envelope)
    await session.flush()


async def reorder_recipients(
    session: AsyncSession, principal: Principal, envelope_id: uuid.UUID, data: RecipientOrder
) -> Envelope:
    envelope = await get_draft(session, principal, envelope_id)
    by_id = {r.id: r for r in envelope.recipients}
    wanted = data.recipient_ids
    if len(wanted) != len(set(wanted)) or set(wanted) != set(by_id):
        raise ValidationFailed.at(
            "/recipient_ids", "list every recipient of the envelope exactly once"
        )
    sender = sender_recipient(envelope)
    if sender is not None and wanted[0] != sender.id:
        raise ValidationFailed.at(
            "/recipient_ids/0", "the sender signs first while sender_signs_first is true"
        )
    envelope.recipients.sort(key=lambda r: wanted.index(r.id))
    renumber(envelope)
    await session.flush()
    return envelope
