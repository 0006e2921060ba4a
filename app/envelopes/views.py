"""From ORM rows to the API's representation, readiness badges and blockers included."""

from __future__ import annotations

from datetime import datetime

from app.envelopes.models import Document, Envelope, EnvelopeKind, Recipient
from app.envelopes.people import recipient_email, sender_email, shown_names
from app.envelopes.readiness import document_view, envelope_blockers
from app.envelopes.rules import Budget, stamps_complete
from app.envelopes.schemas import (
    BlockerOut,
    DocumentOut,
    EnvelopeOut,
    PageOut,
    PendingProblem,
    Person,
    RecipientOut,
    Reminders,
    Size,
    StampOut,
)


def budget_of(envelope: Envelope, limit_bytes: int) -> Budget:
    return Budget(sum(d.size_bytes for d in envelope.documents), limit_bytes)


def envelope_out(
    envelope: Envelope, *, limit_bytes: int, now: datetime, credits_available: int | None = None
) -> EnvelopeOut:
    """The envelope as its sender sees it, readiness judged at `now` (the service clock) and,
    at eIDAS levels, against the tenant's credits."""
    signer_ids = [str(r.id) for r in envelope.recipients]
    found = envelope_blockers(envelope, now, credits_available=credits_available)
    budget = budget_of(envelope, limit_bytes)
    return EnvelopeOut(
        id=envelope.id,
        kind=envelope.kind,
        status=envelope.status,
        name=envelope.name,
        message=envelope.message,
        level=envelope.level,
        sender=_sender_out(envelope),
        sender_signs_first=envelope.sender_signs_first,
        distribute_to_signers=envelope.distribute_to_signers,
        sender_copy=envelope.sender_copy,
        expires_at=envelope.expires_at,
        reminders=_reminders_out(envelope),
        locale=envelope.locale,
        size=Size(used_bytes=budget.used_bytes, limit_bytes=budget.limit_bytes),
        documents=[document_out(d, envelope.kind, signer_ids) for d in envelope.documents],
        recipients=[recipient_out(r, envelope.kind) for r in envelope.recipients],
        ready_to_send=not found,
        blockers=[
            BlockerOut(
                code=b.code,
                detail=b.detail,
                pointer=b.pointer,
                document_id=b.document_id,
                recipient_id=b.recipient_id,
            )
            for b in found
        ],
        sent_at=envelope.sent_at,
        ended_at=envelope.ended_at,
        cancel_reason=envelope.cancel_reason,
        failure_reason=envelope.failure_reason,
        problem=PendingProblem.model_validate(envelope.pending_problem)
        if envelope.pending_problem
        else None,
        created_at=envelope.created_at,
        updated_at=envelope.updated_at,
    )


def recipient_out(recipient: Recipient, kind: EnvelopeKind) -> RecipientOut:
    user = recipient.user
    first_name, last_name = shown_names(recipient)
    return RecipientOut(
        id=recipient.id,
        position=recipient.position,
        role="signer" if kind is EnvelopeKind.signature else "approver",
        is_sender=recipient.is_sender,
        user_id=user.external_id if user else None,
        email=recipient_email(recipient),
        first_name=first_name,
        last_name=last_name,
        phone=recipient.phone or (user.phone if user else None),
        locale=recipient.locale,
        delivery=recipient.delivery,
        status=recipient.status,
        invited_at=recipient.invited_at,
        opened_at=recipient.opened_at,
        acted_at=recipient.acted_at,
        comment=recipient.comment,
        decline_reason=recipient.decline_reason,
        reminder_count=recipient.reminder_count or 0,
    )


def document_out(document: Document, kind: EnvelopeKind, signer_ids: list[str]) -> DocumentOut:
    badge = None
    if kind is EnvelopeKind.signature:
        complete = stamps_complete(document_view(document), signer_ids)
        badge = "complete" if complete else "pending"
    return DocumentOut(
        id=document.id,
        filename=document.filename,
        content_type=document.content_type,
        size_bytes=document.size_bytes,
        sha256=document.sha256,
        current_sha256=document.current_sha256,
        signed_sha256=document.signed_sha256,
        page_count=document.page_count,
        pages=[PageOut.model_validate(p) for p in document.pages] if document.pages else None,
        stamps=badge,
        stamp_placements=[StampOut.model_validate(s) for s in document.stamps],
        created_at=document.created_at,
    )


def _sender_out(envelope: Envelope) -> Person:
    user = envelope.sender_user
    return Person(
        user_id=user.external_id if user else None,
        email=sender_email(envelope),
        first_name=user.first_name if user else envelope.sender_first_name,
        last_name=user.last_name if user else envelope.sender_last_name,
    )


def _reminders_out(envelope: Envelope) -> Reminders | None:
    if envelope.reminder_interval_days is None or envelope.reminder_max_count is None:
        return None
    return Reminders(
        interval_days=envelope.reminder_interval_days, max_count=envelope.reminder_max_count
    )
