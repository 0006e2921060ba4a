"""The workflow's jobs: sending an email from the outbox, signing for one signer, the sweep's
share (expiry and scheduled reminders) and renewing archive timestamps. Each runs in
transactions of its own and is safe to run twice."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activity import step_at
from app.db import transaction
from app.envelopes.models import Envelope, EnvelopeKind, EnvelopeStatus
from app.envelopes.people import recipient_label
from app.envelopes.states import ACTIONABLE_RECIPIENT
from app.evidence.schemas import EventType
from app.jobs.worker import TryLater
from app.notifications.content import EmailKind
from app.notifications.mailer import Attachment, MailDeliveryError, OutgoingEmail
from app.notifications.models import Notification, NotificationStatus
from app.observability.metrics import count_email, observe_signing
from app.runtime import Runtime
from app.signing.failures import Unavailable
from app.storage.blobs import BlobStore
from app.workflow import archive, service, signatures
from app.workflow.evidence_report import seal_evidence
from app.workflow.loading import load_envelope, lock_envelope_row
from app.workflow.mail import Addressee, compose
from app.workflow.models import SignatureRequest, SignatureRequestStatus

log = logging.getLogger(__name__)

SWEEP_BATCH = 500


# --- email ----------------------------------------------------------------------------------


async def send_email_job(runtime: Runtime, payload: dict[str, Any]) -> None:
    """Idempotent: a notification already sent is not sent again."""
    notification_id = uuid.UUID(payload["notification_id"])
    prepared = await _prepare(runtime, notification_id, payload)
    if prepared is None:
        return
    outgoing, about = prepared
    try:
        await runtime.mailer.send(outgoing)
    except MailDeliveryError as error:
        _note_email(about, "failed", error=str(error), permanent=error.permanent)
        await _count_attempt(runtime, notification_id, str(error))
        if not error.permanent:
            raise  # retried with backoff by the worker, then mark_email_failed
        await mark_email_failed(runtime, payload, str(error))
        return
    _note_email(about, "sent")
    await _mark_sent(runtime, notification_id, outgoing.subject)


def _note_email(about: dict[str, str], outcome: str, **details: Any) -> None:
    """Ids only: the address and the body (a signing link) stay out of the log."""
    count_email(outcome)
    level = logging.INFO if outcome == "sent" else logging.WARNING
    fields = {"event": "email", "outcome": outcome, **about, **details}
    log.log(level, "email %s %s", about["notification_id"], outcome, extra=fields)


async def _prepare(
    runtime: Runtime, notification_id: uuid.UUID, payload: dict[str, Any]
) -> tuple[OutgoingEmail, dict[str, str]] | None:
    """The email, and what its log line says of it."""
    async with transaction(runtime.sessions) as session:
        notification = await session.get(Notification, notification_id)
        if notification is None or notification.status is not NotificationStatus.pending:
            return None
        envelope = await load_envelope(session, notification.envelope_id, lock=False, stamps=False)
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
        attachments = await completion_attachments(
            runtime.blobs,
            envelope,
            EmailKind(notification.kind),
            max_bytes=runtime.settings.mail_attachments_max_bytes,
        )
        about = {
            "notification_id": str(notification_id),
            "kind": notification.kind,
            "envelope_id": str(notification.envelope_id),
            "tenant_id": str(notification.tenant_id),
        }
    outgoing = OutgoingEmail(
        message_id=f"<{notification_id}@cachet>",
        to_address=to.address,
        to_name=to.name,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        attachments=attachments,
    )
    return outgoing, about


async def completion_attachments(
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
    attachments = tuple(
        [Attachment(name, await blobs.local_path(sha256)) for name, sha256 in files if sha256]
    )
    if sum(a.path.stat().st_size for a in attachments) > max_bytes:  # a stat
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
        step = step_at(runtime)
        notification.status = NotificationStatus.sent
        notification.attempts += 1
        notification.subject = subject
        notification.sent_at = step.now
        await step.record(session, envelope, EventType.email_sent, **_email_data(notification))


async def mark_email_failed(runtime: Runtime, payload: dict[str, Any], error: str) -> None:
    """The last word on an email that will not go out: the sender's platform hears of it."""
    async with transaction(runtime.sessions) as session:
        notification = await _locked(session, uuid.UUID(payload["notification_id"]))
        if notification is None or notification.status is not NotificationStatus.pending:
            return
        envelope = await lock_envelope_row(session, notification.envelope_id)
        notification.status = NotificationStatus.failed
        notification.last_error = error[:2000]
        await step_at(runtime).record(
            session,
            envelope,
            EventType.email_failed,
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


# --- signing --------------------------------------------------------------------------------


async def apply_signature_job(runtime: Runtime, payload: dict[str, Any]) -> None:
    """Sign every document for one signer, then move the cascade on. Safe to run twice.

    A service that does not answer (the TSA, an OCSP responder) is waited for as long as it
    takes, the envelope showing the problem meanwhile; any other failure counts against the
    job's attempts, and the last one fails the envelope (signature_failed)."""
    request_id = uuid.UUID(payload["request_id"])
    try:
        await _apply_signature(runtime, request_id)
    except Unavailable as error:
        await _note_problem(runtime, request_id, error)
        raise TryLater(str(error)) from error


async def _apply_signature(runtime: Runtime, request_id: uuid.UUID) -> None:
    async with transaction(runtime.sessions) as session:
        request = await session.get(SignatureRequest, request_id)
        if request is None:
            return
        envelope = await load_envelope(session, request.envelope_id, lock=True)
        # Re-read under the envelope's lock: another run of this job may have finished first.
        await session.refresh(request)
        if request.status is not SignatureRequestStatus.pending:
            return
        recipient = next(r for r in envelope.recipients if r.id == request.recipient_id)
        if envelope.status is not EnvelopeStatus.in_progress or (
            recipient.status not in ACTIONABLE_RECIPIENT
        ):
            request.status = SignatureRequestStatus.abandoned
            return
        with _signing_watched(envelope, request):
            await signatures.sign_for(runtime, session, step_at(runtime), envelope, request)


@contextmanager
def _signing_watched(envelope: Envelope, request: SignatureRequest) -> Iterator[None]:
    """Times one signer's signatures: "signed", "waiting" (a service did not answer, the job
    retries) or "failed" (counts against the job's attempts)."""
    # Read now: after a failed flush the rows' attributes may no longer be loaded.
    level = envelope.level.value if envelope.level is not None else "simple"
    about = {
        "signature_request_id": str(request.id),
        "envelope_id": str(envelope.id),
        "tenant_id": str(envelope.tenant_id),
    }
    started = time.perf_counter()
    outcome = "failed"
    try:
        yield
        outcome = "signed"
    except Unavailable:
        outcome = "waiting"
        raise
    finally:
        seconds = time.perf_counter() - started
        observe_signing(level, outcome, seconds)
        log.log(
            logging.INFO if outcome == "signed" else logging.WARNING,
            "signing for request %s: %s",
            about["signature_request_id"],
            outcome,
            extra={
                "event": "signing",
                "outcome": outcome,
                "level": level,
                "duration_ms": round(seconds * 1000, 1),
                **about,
            },
        )


async def _note_problem(runtime: Runtime, request_id: uuid.UUID, error: Unavailable) -> None:
    """Shows the sender what the job is waiting for (the first time it met it stays `since`)."""
    async with transaction(runtime.sessions) as session:
        request = await session.get(SignatureRequest, request_id)
        if request is None:
            return
        envelope = await load_envelope(session, request.envelope_id, lock=True)
        if envelope.status is not EnvelopeStatus.in_progress:
            return
        since = (envelope.pending_problem or {}).get("since") or runtime.clock.now().isoformat()
        envelope.pending_problem = {
            "code": "signing_service_unavailable",
            "detail": str(error)[:1000],
            "since": since,
        }


async def signature_failed(runtime: Runtime, payload: dict[str, Any], error: str) -> None:
    """Every attempt failed, for a reason of the document's or the keys' (a service that does
    not answer is retried instead): nothing more is signed and the envelope ends as `failed`,
    so that it never stays in progress with a signature pending forever."""
    async with transaction(runtime.sessions) as session:
        request = await session.get(SignatureRequest, uuid.UUID(payload["request_id"]))
        if request is None or request.status is not SignatureRequestStatus.pending:
            return
        envelope = await load_envelope(session, request.envelope_id, lock=True)
        step = step_at(runtime)
        request.status = SignatureRequestStatus.abandoned
        await step.record(
            session,
            envelope,
            EventType.recipient_signature_failed,
            recipient_id=str(request.recipient_id),
            error=error[:500],
        )
        if envelope.status is EnvelopeStatus.in_progress:
            signer = next(r for r in envelope.recipients if r.id == request.recipient_id)
            reason = (
                f"The documents could not be signed for signer {signer.position} "
                f"({recipient_label(signer)}): {error[:300]}"
            )
            await service.fail(session, step, envelope, reason=reason)


# --- evidence -------------------------------------------------------------------------------


async def seal_evidence_job(runtime: Runtime, payload: dict[str, Any]) -> None:
    """The evidence PDF of a completed approval envelope. Safe to run twice; a TSA that does
    not answer is waited for."""
    try:
        async with transaction(runtime.sessions) as session:
            envelope_id = uuid.UUID(payload["envelope_id"])
            envelope = await load_envelope(session, envelope_id, lock=True, stamps=False)
            if envelope.status is not EnvelopeStatus.completed or envelope.evidence_sha256:
                return
            await seal_evidence(runtime, session, envelope, step_at(runtime))
    except Unavailable as error:
        raise TryLater(str(error)) from error


# --- the sweep ------------------------------------------------------------------------------


async def sweep_due_envelopes(runtime: Runtime) -> None:
    """Expiry and scheduled reminders, one envelope per transaction."""
    async with transaction(runtime.sessions) as session:
        due = await service.due_envelope_ids(session, runtime.clock.now(), limit=SWEEP_BATCH)
    for envelope_id in due:
        try:
            async with transaction(runtime.sessions) as session:
                await service.sweep_envelope(session, step_at(runtime), envelope_id)
        except Exception:
            log.exception("sweep failed for envelope %s", envelope_id)


# --- archive renewal ------------------------------------------------------------------------


async def renew_archives_job(runtime: Runtime, payload: dict[str, Any]) -> None:
    """Periodic: renew the archive timestamps expiring within CACHET_ARCHIVE_RENEW_BEFORE_DAYS.
    An envelope that fails is logged and left due, so the next run tries it again; the others
    are renewed meanwhile."""
    before = timedelta(days=runtime.settings.archive_renew_before_days)
    run = await archive.renew_archives(runtime, before=before)
    if run.renewed or run.failed:
        log.info("archive renewal: %d renewed, %d failed", len(run.renewed), len(run.failed))
