"""Emails of the workflow: what each one says to whom, written to the outbox.

The job that sends them is in workflow/tasks.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.crypto import SecretBox
from app.envelopes.models import Envelope, Recipient
from app.envelopes.people import recipient_email, recipient_name, sender_email, sender_name
from app.jobs.queue import Priority, enqueue
from app.notifications.content import (
    DocumentLine,
    EmailContext,
    EmailKind,
    RenderedEmail,
    render_email,
)
from app.notifications.models import Notification, NotificationStatus

SEND_EMAIL = "email.send"

# Emails that carry the recipient's own link to act on (or read) the envelope.
LINKED_KINDS = frozenset({EmailKind.invitation, EmailKind.reminder, EmailKind.completed_signer})


def link_for(recipient: Recipient, secrets: SecretBox, template: str) -> str:
    return template.replace("{token}", secrets.link_token(recipient.id))


@dataclass(frozen=True)
class Addressee:
    address: str
    name: str | None
    locale: str
    recipient: Recipient | None


def addressee_of(recipient: Recipient) -> Addressee:
    return Addressee(
        recipient_email(recipient), recipient_name(recipient), recipient.locale, recipient
    )


def sender_addressee(envelope: Envelope) -> Addressee:
    return Addressee(sender_email(envelope), sender_name(envelope), envelope.locale, None)


def compose(
    envelope: Envelope,
    kind: EmailKind,
    to: Addressee,
    *,
    secrets: SecretBox,
    link_template: str,
    reason: str | None = None,
    actor_name: str | None = None,
    expires_at: datetime | None = None,
) -> RenderedEmail:
    """The email exactly as it goes out; the preview calls this too (with the expiry that
    sending will set, when the draft has none yet)."""
    link = None
    if kind in LINKED_KINDS and to.recipient is not None:
        link = link_for(to.recipient, secrets, link_template)
    context = EmailContext(
        envelope_kind=envelope.kind.value,
        envelope_name=envelope.name,
        sender_name=sender_name(envelope),
        sender_email=sender_email(envelope),
        recipient_name=to.name,
        message=envelope.message,
        documents=[DocumentLine(d.filename, d.size_bytes) for d in envelope.documents],
        link=link,
        expires_at=expires_at or envelope.expires_at,
        reason=reason,
        actor_name=actor_name,
    )
    return render_email(kind, to.locale, context)


async def queue_email(
    session: AsyncSession,
    envelope: Envelope,
    kind: EmailKind,
    to: Addressee,
    *,
    reason: str | None = None,
    actor_name: str | None = None,
) -> Notification:
    notification = Notification(
        id=uuid.uuid4(),
        tenant_id=envelope.tenant_id,
        envelope_id=envelope.id,
        recipient_id=to.recipient.id if to.recipient else None,
        kind=kind.value,
        to_address=to.address,
        to_name=to.name,
        locale=to.locale,
        status=NotificationStatus.pending,
        attempts=0,
    )
    session.add(notification)
    await session.flush()
    # The job renders the email when it runs; what the rows do not hold travels with it.
    payload: dict[str, Any] = {"notification_id": str(notification.id)}
    if reason is not None:
        payload["reason"] = reason
    if actor_name is not None:
        payload["actor_name"] = actor_name
    await enqueue(session, SEND_EMAIL, payload, priority=Priority.person_told)
    return notification
