"""The running envelope: send, the ordered cascade, approve, sign, decline, cancel, reminders,
expiry. One function per use case; the HTTP routes and the jobs each make one call.

Every function here runs inside the caller's transaction with the envelope's row lock held, so
two actions on one envelope are strictly one after the other. Side effects (emails, webhooks,
the signing job) are written to the outbox and the job queue in that same transaction. The
decisions themselves (whose turn, who is told, what is due) are the pure functions of
workflow/rules.py.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import anyio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activity import Step
from app.config import Settings
from app.credits import service as credits
from app.crypto import sha256_hex
from app.envelopes.models import (
    Delivery,
    Envelope,
    EnvelopeKind,
    EnvelopeStatus,
    Level,
    Locale,
    Recipient,
    RecipientStatus,
)
from app.envelopes.people import recipient_label
from app.envelopes.readiness import blocker_json, envelope_blockers
from app.envelopes.service import find_recipient
from app.envelopes.states import (
    move_envelope,
    move_recipient,
)
from app.errors import Conflict, FieldError, TooManyRequests, ValidationFailed
from app.evidence.schemas import EventType
from app.evidence.service import SYSTEM
from app.jobs.queue import Priority, enqueue
from app.notifications.content import EmailKind
from app.runtime import Runtime
from app.storage.blobs import BlobStore, store_bytes
from app.workflow import identity, otp, rules
from app.workflow.fields import prepare_documents
from app.workflow.loading import load_envelope
from app.workflow.mail import addressee_of, link_for, queue_email, sender_addressee
from app.workflow.models import SignatureRequest, SignatureRequestStatus
from app.workflow.signature_image import decode_signature_image
from app.workflow.turns import require_in_progress, require_turn

APPLY_SIGNATURE = "signing.apply"
"""The job that signs for one signer: workflow/tasks.py."""
SEAL_EVIDENCE = "evidence.seal"
"""The job that seals a completed approval envelope's evidence PDF: workflow/tasks.py."""
# How a signer is authenticated, by level: the link emailed to them, then the SMS code.
SIGNING_METHODS = {
    None: "email_link",
    Level.simple: "email_link",
    Level.eidas_simple: "email_link+sms_otp",
    Level.eidas_advanced: "email_link+sms_otp+identity",
}
CONSENT_TEXT = {
    Locale.fr: "J'ai lu les documents et je les signe électroniquement. Je reconnais que cette "
    "signature électronique a la même valeur que ma signature manuscrite.",
    Locale.en: "I have read the documents and I sign them electronically. I agree that this "
    "electronic signature has the same value as my handwritten signature.",
}


# --- sender side ------------------------------------------------------------------------


async def send(session: AsyncSession, step: Step, envelope: Envelope, runtime: Runtime) -> None:
    """Starts the workflow: links go live, the first recipient is invited, and each document
    of a signature envelope gets its signature fields."""
    if envelope.status is not EnvelopeStatus.draft:
        raise Conflict("not_a_draft", f"The envelope is {envelope.status.value}; it was sent.")
    found = envelope_blockers(envelope, step.now)
    if found:
        raise ValidationFailed(
            "envelope_not_ready",
            "The envelope cannot be sent yet; blockers lists every reason.",
            [FieldError(b.pointer, b.detail) for b in found],
            blockers=[blocker_json(b) for b in found],
        )
    await credits.reserve(session, step, envelope)  # 402 insufficient_credits, or one per signer
    move_envelope(envelope, EnvelopeStatus.in_progress)
    envelope.sent_at = step.now
    # Every link is live from now on, so a recipient who opens theirs early sees the envelope
    # and is told it is not their turn yet; only the first gets an email.
    for recipient in envelope.recipients:
        recipient.token_hash = sha256_hex(step.secrets.link_token(recipient.id))
    envelope.expires_at = expiry_at_send(envelope, step.now, step.settings)
    await step.record(
        session, envelope, EventType.envelope_sent, expires_at=envelope.expires_at.isoformat()
    )
    first = rules.whose_turn(envelope.recipients)
    assert first is not None  # readiness requires a recipient
    await invite(session, step, envelope, first)
    if envelope.kind is EnvelopeKind.signature:
        await prepare_documents(runtime, envelope)


def expiry_at_send(envelope: Envelope, now: datetime, settings: Settings) -> datetime:
    return envelope.expires_at or now + timedelta(days=settings.default_expiry_days)


async def invite(
    session: AsyncSession, step: Step, envelope: Envelope, recipient: Recipient
) -> None:
    move_recipient(recipient, RecipientStatus.invited)
    recipient.invited_at = step.now
    recipient.next_reminder_at = (
        rules.first_reminder_at(
            step.now,
            interval_days=envelope.reminder_interval_days,
            max_count=envelope.reminder_max_count,
        )
        if recipient.delivery is Delivery.email
        else None  # the platform reminds its own users
    )
    await step.record(
        session,
        envelope,
        EventType.recipient_invited,
        recipient_id=str(recipient.id),
        position=recipient.position,
    )
    await _email_link(session, envelope, EmailKind.invitation, recipient)


async def reinvite(
    session: AsyncSession, step: Step, envelope: Envelope, recipient: Recipient
) -> None:
    """The invitation again, same link, to the recipient whose turn it is (after the sender
    corrected them): wrong SMS codes are forgiven as by a reminder."""
    recipient.invited_at = step.now
    await otp.unlock(session, step, envelope, recipient)
    await step.record(
        session,
        envelope,
        EventType.recipient_invited,
        recipient_id=str(recipient.id),
        position=recipient.position,
        again=True,
    )
    await _email_link(session, envelope, EmailKind.invitation, recipient)


async def cancel(session: AsyncSession, step: Step, envelope: Envelope, reason: str | None) -> None:
    require_in_progress(envelope)
    told = rules.told_of_cancel(envelope.recipients)
    await _end(session, step, envelope, EnvelopeStatus.canceled)
    envelope.cancel_reason = reason
    await step.record(session, envelope, EventType.envelope_canceled, reason=reason)
    for recipient in told:
        await queue_email(
            session, envelope, EmailKind.canceled, addressee_of(recipient), reason=reason
        )


async def remind(session: AsyncSession, step: Step, envelope: Envelope) -> Recipient:
    """A reminder on request, to whoever's turn it is, at most once per cool-down."""
    require_in_progress(envelope)
    cooldown = timedelta(minutes=step.settings.reminder_cooldown_minutes)
    wait = rules.manual_reminder_wait(envelope.last_manual_reminder_at, step.now, cooldown)
    if wait is not None:
        seconds = math.ceil(wait.total_seconds())
        raise TooManyRequests(
            "reminder_cooldown",
            f"A reminder was sent recently; the next one is possible in {seconds} s.",
            retry_after_seconds=seconds,
        )
    recipient = rules.whose_turn(envelope.recipients)
    assert recipient is not None  # an envelope in progress always has someone whose turn it is
    envelope.last_manual_reminder_at = step.now
    await otp.unlock(session, step, envelope, recipient)  # re-inviting forgives wrong codes
    await _send_reminder(session, step, envelope, recipient, scheduled=False)
    return recipient


async def _send_reminder(
    session: AsyncSession, step: Step, envelope: Envelope, recipient: Recipient, *, scheduled: bool
) -> None:
    recipient.reminder_count += 1
    recipient.last_reminded_at = step.now
    await step.record(
        session,
        envelope,
        EventType.recipient_reminded,
        recipient_id=str(recipient.id),
        count=recipient.reminder_count,
        scheduled=scheduled,
    )
    await _email_link(session, envelope, EmailKind.reminder, recipient)


async def _email_link(
    session: AsyncSession, envelope: Envelope, kind: EmailKind, recipient: Recipient
) -> None:
    """Invitations and reminders carry the recipient's link: not for a recipient whose
    platform gives the link itself (delivery "none", embedded signing)."""
    if recipient.delivery is Delivery.email:
        await queue_email(session, envelope, kind, addressee_of(recipient))


@dataclass(frozen=True)
class SigningLink:
    url: str
    expires_at: datetime | None


async def signing_link(
    session: AsyncSession, step: Step, envelope: Envelope, recipient_id: uuid.UUID
) -> SigningLink:
    """The link an invitation would carry, for a platform that shows the page itself; only
    for the recipient whose turn it is (409 `not_your_turn`, `already_acted`; 410 once the
    envelope has ended). The evidence keeps who was given whose link, and when."""
    recipient = find_recipient(envelope, recipient_id)
    require_turn(envelope, recipient)
    await step.record(
        session, envelope, EventType.recipient_link_issued, recipient_id=str(recipient.id)
    )
    url = link_for(recipient, step.secrets, step.settings.signing_link_template)
    return SigningLink(url, envelope.expires_at)


# --- recipient side -----------------------------------------------------------------------


def mark_acted(recipient: Recipient, status: RecipientStatus, now: datetime) -> None:
    """The recipient's turn is over: no more reminders for them."""
    move_recipient(recipient, status)
    recipient.acted_at = now
    recipient.next_reminder_at = None


async def approve(
    session: AsyncSession, step: Step, envelope: Envelope, recipient: Recipient, comment: str | None
) -> None:
    require_turn(envelope, recipient)
    if envelope.kind is not EnvelopeKind.approval:
        raise Conflict("wrong_action", "This envelope is signed, not approved.")
    mark_acted(recipient, RecipientStatus.approved, step.now)
    recipient.comment = comment
    await step.record(
        session,
        envelope,
        EventType.recipient_approved,
        recipient_id=str(recipient.id),
        comment=comment,
    )
    await advance(session, step, envelope)


async def advance(session: AsyncSession, step: Step, envelope: Envelope) -> None:
    """After an approval or a signature: invite the next recipient, or complete the envelope."""
    following = rules.whose_turn(envelope.recipients)
    if following is not None:
        await invite(session, step, envelope, following)
        return
    move_envelope(envelope, EnvelopeStatus.completed)
    envelope.ended_at = step.now
    await step.by(SYSTEM).record(session, envelope, EventType.envelope_completed)
    if envelope.kind is EnvelopeKind.approval:
        # A signature envelope's last signing job seals its evidence; an approval has no job.
        await enqueue(session, SEAL_EVIDENCE, {"envelope_id": str(envelope.id)})
    if envelope.sender_copy:
        await queue_email(session, envelope, EmailKind.completed_sender, sender_addressee(envelope))
    if envelope.distribute_to_signers:
        for recipient in envelope.recipients:
            await queue_email(
                session, envelope, EmailKind.completed_signer, addressee_of(recipient)
            )


def consent_text(recipient: Recipient) -> str:
    return CONSENT_TEXT[recipient.locale]


async def signature_request_of(
    session: AsyncSession, recipient: Recipient
) -> SignatureRequest | None:
    """The signer's request, whatever its status: there is at most one per recipient."""
    return await session.scalar(
        select(SignatureRequest).where(SignatureRequest.recipient_id == recipient.id)
    )


async def require_no_signature_request(session: AsyncSession, recipient: Recipient) -> None:
    """Once a signer has consented, the job will sign: nothing else may happen in between."""
    if await signature_request_of(session, recipient) is not None:
        raise Conflict(
            "signature_in_progress",
            "Your signature is being applied to the documents; it cannot be changed.",
        )


async def require_can_sign(session: AsyncSession, envelope: Envelope, recipient: Recipient) -> None:
    require_turn(envelope, recipient)
    if envelope.kind is not EnvelopeKind.signature:
        raise Conflict("wrong_action", "This envelope is approved, not signed.")
    await require_no_signature_request(session, recipient)


async def sign(
    session: AsyncSession,
    step: Step,
    envelope: Envelope,
    recipient: Recipient,
    *,
    consent: bool,
    signature_image: str,
    blobs: BlobStore,
    session_id: uuid.UUID,
) -> SignatureRequest:
    """The signer's consent and handwritten image: checked, recorded durably, and the job
    that signs every document queued. Refused before the image is stored, so a refused
    request leaves nothing behind."""
    if not consent:
        raise ValidationFailed(
            "consent_required",
            "Signing needs the signer's consent: send consent=true once they accepted it.",
            [FieldError("/consent", "must be true")],
        )
    # Decoding a PNG of up to 2000x2000 pixels takes milliseconds of CPU: off the event loop.
    max_bytes = step.settings.signature_image_max_bytes
    image = await anyio.to_thread.run_sync(
        partial(decode_signature_image, signature_image, max_bytes=max_bytes)
    )
    await require_can_sign(session, envelope, recipient)
    await otp.require_verified(
        session,
        envelope,
        recipient,
        session_id=session_id,
        now=step.now,
        valid_for=timedelta(seconds=step.settings.otp_verified_seconds),
    )
    await identity.require_approved(session, envelope, recipient)
    image_sha256 = await store_bytes(blobs, image.png, prefix="signature-image-")
    return await _request_signature(
        session, step, envelope, recipient, image_sha256, (image.width, image.height)
    )


async def _request_signature(
    session: AsyncSession,
    step: Step,
    envelope: Envelope,
    recipient: Recipient,
    image_sha256: str,
    image_size: tuple[int, int],
) -> SignatureRequest:
    request = SignatureRequest(
        tenant_id=envelope.tenant_id,
        envelope_id=envelope.id,
        recipient_id=recipient.id,
        status=SignatureRequestStatus.pending,
        consent_text=consent_text(recipient),
        method=SIGNING_METHODS[envelope.level],
        image_sha256=image_sha256,
        image_width=image_size[0],
        image_height=image_size[1],
        ip=step.origin.ip,
        user_agent=step.origin.user_agent,
        requested_at=step.now,
    )
    session.add(request)
    recipient.next_reminder_at = None
    await session.flush()
    await step.record(
        session,
        envelope,
        EventType.recipient_consented,
        recipient_id=str(recipient.id),
        consent_text=request.consent_text,
        method=request.method,
        signature_image_sha256=image_sha256,
    )
    await enqueue(
        session,
        APPLY_SIGNATURE,
        {"request_id": str(request.id)},
        priority=Priority.person_waiting,
    )
    return request


async def decline(
    session: AsyncSession, step: Step, envelope: Envelope, recipient: Recipient, reason: str
) -> None:
    require_turn(envelope, recipient)
    await require_no_signature_request(session, recipient)
    mark_acted(recipient, RecipientStatus.declined, step.now)
    recipient.decline_reason = reason
    await step.record(
        session,
        envelope,
        EventType.recipient_declined,
        recipient_id=str(recipient.id),
        reason=reason,
    )
    await _end(session, step, envelope, EnvelopeStatus.declined)
    await step.record(
        session, envelope, EventType.envelope_declined, recipient_id=str(recipient.id)
    )
    await queue_email(
        session,
        envelope,
        EmailKind.declined,
        sender_addressee(envelope),
        reason=reason,
        actor_name=recipient_label(recipient),
    )


async def fail(session: AsyncSession, step: Step, envelope: Envelope, reason: str) -> None:
    """The service could not do its part, on any attempt (a document that cannot be signed):
    the envelope ends as `failed`, and the sender is told why."""
    require_in_progress(envelope)
    await _end(session, step, envelope, EnvelopeStatus.failed)
    envelope.failure_reason = reason
    await step.record(session, envelope, EventType.envelope_failed, reason=reason)
    await queue_email(
        session, envelope, EmailKind.failed, sender_addressee(envelope), reason=reason
    )


async def _end(
    session: AsyncSession, step: Step, envelope: Envelope, status: EnvelopeStatus
) -> None:
    """Ends the envelope early: whoever has not acted is skipped."""
    move_envelope(envelope, status)
    envelope.ended_at = step.now
    envelope.pending_problem = None
    for recipient in envelope.recipients:
        recipient.next_reminder_at = None
        if rules.skipped_at_end(recipient.status):
            move_recipient(recipient, RecipientStatus.skipped)
    await credits.release_unconsumed(session, step, envelope)


# --- scheduled work (the sweep) -----------------------------------------------------------


async def expire(session: AsyncSession, step: Step, envelope: Envelope) -> bool:
    if not rules.has_expired(envelope.status, envelope.expires_at, step.now):
        return False
    waiting_on = rules.whose_turn(envelope.recipients)
    await _end(session, step, envelope, EnvelopeStatus.expired)
    await step.record(session, envelope, EventType.envelope_expired)
    await queue_email(session, envelope, EmailKind.expired, sender_addressee(envelope))
    if waiting_on is not None:
        await queue_email(session, envelope, EmailKind.expired, addressee_of(waiting_on))
    return True


async def remind_if_due(session: AsyncSession, step: Step, envelope: Envelope) -> bool:
    recipient = rules.whose_turn(envelope.recipients)
    if envelope.status is not EnvelopeStatus.in_progress or recipient is None:
        return False
    if not rules.reminder_due(recipient.status, recipient.next_reminder_at, step.now):
        return False
    await _send_reminder(session, step, envelope, recipient, scheduled=True)
    recipient.next_reminder_at = rules.next_reminder_at(
        step.now,
        interval_days=envelope.reminder_interval_days,
        max_count=envelope.reminder_max_count,
        sent=recipient.reminder_count,
    )
    return True


async def due_envelope_ids(session: AsyncSession, now: datetime, *, limit: int) -> list[uuid.UUID]:
    """Envelopes the sweep has something to do for: expired, or a reminder due."""
    expiring = select(Envelope.id).where(
        Envelope.status == EnvelopeStatus.in_progress, Envelope.expires_at <= now
    )
    reminding = (
        select(Recipient.envelope_id)
        .join(Envelope, Envelope.id == Recipient.envelope_id)
        .where(Recipient.next_reminder_at <= now, Envelope.status == EnvelopeStatus.in_progress)
    )
    query = expiring.union(reminding).limit(limit)
    return list((await session.scalars(query)).all())


async def sweep_envelope(session: AsyncSession, step: Step, envelope_id: uuid.UUID) -> None:
    envelope = await load_envelope(session, envelope_id, lock=True)
    if not await expire(session, step, envelope):
        await remind_if_due(session, step, envelope)
