"""Emails of the workflow: what each one says to whom, written to the outbox, sent by a job."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crypto import SecretBox
from app.db import transaction
from app.envelopes.models import Envelope, EnvelopeKind, Recipient
from app.envelopes.service import recipient_email, sender_email
from app.evidence.service import SYSTEM
from app.jobs.queue import enqueue
from app.notifications.content import (
    DocumentLine,
    EmailContext,
    EmailKind,
    RenderedEmail,
    render_email,
)
from app.notifications.mailer import Attachment, MailDeliveryError, OutgoingEmail
from app.notifications.models import Notification, NotificationStatus
from app.runtime import Runtime
from app.storage.blobs import BlobStore
from app.workflow.events import record
from app.workflow.loading import load_envelope, lock_envelope_row

SEND_EMAIL = "email.send"

# Emails that carry the recipient's own link to act on (or read) the envelope.
LINKED_KINDS = frozenset({EmailKind.invitation, EmailKind.reminder, EmailKind.completed_signer})


def display_name(first: str | None, last: str | None) -> str | None:
    name = " ".join(part for part in (first, last) if part)
    return name or None


def sender_name(envelope: Envelope) -> str:
    user = envelope.sender_user
    if user is not None:
        name = display_name(user.first_name, user.last_name)
    else:
        name = display_name(envelope.sender_first_name, envelope.sender_last_name)
    return name or sender_email(envelope)


def recipient_name(recipient: Recipient) -> str | None:
    if recipient.user is not None and not (recipient.first_name or recipient.last_name):
        return display_name(recipient.user.first_name, recipient.user.last_name)
    return display_name(recipient.first_name, recipient.last_name)


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
    await enqueue(session, SEND_EMAIL, payload)
    return notification


# --- the job -------------------------------------------------------------------------------


async def send_email_job(runtime: Runtime, payload: dict[str, Any]) -> None:
    """Idempotent: a notification already sent is not sent again."""
    notification_id = uuid.UUID(payload["notification_id"])
    outgoing = await _prepare(runtime, notification_id, payload)
    if outgoing is None:
        return
    try:
        await runtime.mailer.send(outgoing)
    except MailDeliveryError as error:
        await _count_attempt(runtime, notification_id, str(error))
        if not error.permanent:
            raise  # retried with backoff by the worker, then mark_email_failed
        await mark_email_failed(runtime, payload, str(error))
        return
    await _mark_sent(runtime, notification_id, outgoing.subject)


async def _prepare(
    runtime: Runtime, notification_id: uuid.UUID, payload: dict[str, Any]
) -> OutgoingEmail | None:
    async with transaction(runtime.sessions) as session:
        notification = await session.get(Notification, notification_id)
        if notification is None or notification.status is not NotificationStatus.pending:
            return None
        envelope = await load_envelope(session, notification.envelope_id, lock=False)
        recipient = next(
            (r for r in envelope.recipients if r.id == notification.recipient_id), None
        )
        to = Addressee(
            notification.to_address, notification.to_name, notification.locale, recipient
        )
        rendered = compose(
            envelope,
            EmailKind(notification.kind),
            to,
            secrets=runtime.secrets,
            link_template=runtime.settings.signing_link_template,
            reason=payload.get("reason"),
            actor_name=payload.get("actor_name"),
        )
        attachments = completion_attachments(
            runtime.blobs,
            envelope,
            EmailKind(notification.kind),
            max_bytes=runtime.settings.mail_attachments_max_bytes,
        )
    return OutgoingEmail(
        message_id=f"<{notification_id}@cachet>",
        to_address=to.address,
        to_name=to.name,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        attachments=attachments,
    )


def completion_attachments(
    blobs: BlobStore, envelope: Envelope, kind: EmailKind, *, max_bytes: int
) -> tuple[Attachment, ...]:
    """A completed signature envelope's signed PDFs (and, for the sender, the evidence PDF),
    unless together they pass max_bytes: then the email's link is the way to them."""
    if kind not in (EmailKind.completed_sender, EmailKind.completed_signer):
        return ()
    if envelope.kind is not EnvelopeKind.signature:
        return ()
    files = [(d.filename, d.signed_sha256) for d in envelope.documents]
    if kind is EmailKind.completed_sender:
        files.append((f"evidence-{envelope.id}.pdf", envelope.evidence_sha256))
    if any(sha256 is None for _, sha256 in files):
        return ()  # not sealed: never send unsigned files as if they were the result
    attachments = tuple(Attachment(name, blobs.path_of(sha256)) for name, sha256 in files if sha256)
    if sum(a.path.stat().st_size for a in attachments) > max_bytes:
        return ()
    return attachments


async def _count_attempt(runtime: Runtime, notification_id: uuid.UUID, error: str) -> None:
    async with transaction(runtime.sessions) as session:
        notification = await session.get(Notification, notification_id, with_for_update=True)
        if notification is not None:
            notification.attempts += 1
            notification.last_error = error


async def _mark_sent(runtime: Runtime, notification_id: uuid.UUID, subject: str) -> None:
    async with transaction(runtime.sessions) as session:
        notification = await _locked(session, notification_id)
        if notification is None or notification.status is NotificationStatus.sent:
            return
        envelope = await lock_envelope_row(session, notification.envelope_id)
        now = runtime.clock.now()
        notification.status = NotificationStatus.sent
        notification.attempts += 1
        notification.subject = subject
        notification.sent_at = now
        await record(
            session, envelope, "email.sent", actor=SYSTEM, now=now, **_email_data(notification)
        )


async def mark_email_failed(runtime: Runtime, payload: dict[str, Any], error: str) -> None:
    """The last word on an email that will not go out: the sender's platform hears of it."""
    async with transaction(runtime.sessions) as session:
        notification = await _locked(session, uuid.UUID(payload["notification_id"]))
        if notification is None or notification.status is not NotificationStatus.pending:
            return
        envelope = await lock_envelope_row(session, notification.envelope_id)
        notification.status = NotificationStatus.failed
        notification.last_error = error[:2000]
        await record(
            session,
            envelope,
            "email.failed",
            actor=SYSTEM,
            now=runtime.clock.now(),
            error=error[:500],
            **_email_data(notification),
        )


async def _locked(session: AsyncSession, notification_id: uuid.UUID) -> Notification | None:
    return await session.scalar(
        select(Notification).where(Notification.id == notification_id).with_for_update()
    )


def _email_data(notification: Notification) -> dict[str, Any]:
    data: dict[str, Any] = {
        "notification_id": str(notification.id),
        "kind": notification.kind,
        "to": notification.to_address,
    }
    if notification.recipient_id is not None:
        data["recipient_id"] = str(notification.recipient_id)
    return data
