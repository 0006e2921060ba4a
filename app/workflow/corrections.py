"""Changing a recipient: freely while the envelope is a draft; after sending, only their names,
before they act. That is how the sender answers an identity check refused as
`identity_mismatch` (the document's names are not the ones they typed): the corrected name
sets the signer's earlier checks aside (their attempts come back) and, when it is their turn,
invites them again with the same link."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.activity import Step
from app.envelopes import recipients
from app.envelopes.models import Envelope, EnvelopeStatus, Level, Recipient
from app.envelopes.people import shown_names
from app.envelopes.schemas import RecipientUpdate
from app.envelopes.service import find_recipient
from app.envelopes.states import DONE_RECIPIENT
from app.errors import Conflict, ValidationFailed
from app.evidence.schemas import EventType
from app.tenants.service import Principal
from app.workflow import identity, rules, service
from app.workflow.loading import load_envelope
from app.workflow.turns import require_in_progress

NAMES = frozenset({"first_name", "last_name"})


async def update_recipient(
    session: AsyncSession,
    step: Step,
    principal: Principal,
    envelope_id: uuid.UUID,
    recipient_id: uuid.UUID,
    data: RecipientUpdate,
) -> tuple[Envelope, Recipient]:
    envelope = await load_envelope(session, envelope_id, lock=True, tenant_id=principal.tenant_id)
    if envelope.status is EnvelopeStatus.draft:
        recipient = await recipients.update_recipient(
            session, principal, envelope_id, recipient_id, data
        )
        return envelope, recipient
    recipient = find_recipient(envelope, recipient_id)
    await correct_names(session, step, envelope, recipient, data)
    return envelope, recipient


async def correct_names(
    session: AsyncSession,
    step: Step,
    envelope: Envelope,
    recipient: Recipient,
    data: RecipientUpdate,
) -> None:
    _require_correctable(envelope, recipient, data)
    before = shown_names(recipient)
    for name in data.model_fields_set:
        setattr(recipient, name, getattr(data, name))
    after = shown_names(recipient)
    if after == before:
        return
    set_aside = await identity.supersede(session, recipient, step.now)
    await step.record(
        session,
        envelope,
        EventType.recipient_corrected,
        recipient_id=str(recipient.id),
        before={"first_name": before[0], "last_name": before[1]},
        after={"first_name": after[0], "last_name": after[1]},
        identity_checks_set_aside=set_aside,
    )
    if rules.whose_turn(envelope.recipients) is recipient:
        await service.reinvite(session, step, envelope, recipient)


def _require_correctable(envelope: Envelope, recipient: Recipient, data: RecipientUpdate) -> None:
    require_in_progress(envelope)
    if data.model_fields_set - NAMES:
        raise Conflict(
            "not_a_draft",
            "The envelope was sent: only a recipient's first_name and last_name can still be "
            "corrected.",
        )
    if recipient.status in DONE_RECIPIENT or recipient.is_sender:
        raise Conflict(
            "already_acted", "This recipient has acted, or is the sender: their name stays."
        )
    if envelope.level is Level.eidas_advanced and any(
        getattr(data, name) is None for name in data.model_fields_set
    ):
        raise ValidationFailed.at(
            "/last_name", "eidas_advanced needs a first and a last name for every signer"
        )
