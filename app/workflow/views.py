"""What the workflow shows: the envelope as a recipient sees it (with what they may do now),
and the sender's preview of the queue and of the first invitation."""

from __future__ import annotations

from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.envelopes.models import Envelope, EnvelopeKind, Recipient
from app.envelopes.people import recipient_email, recipient_name, sender_name
from app.errors import DomainError
from app.notifications.content import EmailKind
from app.runtime import Runtime
from app.workflow import service
from app.workflow.mail import addressee_of, compose
from app.workflow.models import SignatureRequest, SignatureRequestStatus
from app.workflow.schemas import (
    EmailPreview,
    PreviewOut,
    Role,
    SigningDocument,
    SigningEnvelopeOut,
    SigningMe,
    SigningParticipant,
    SummaryLine,
)

Action = Literal["approve", "sign", "decline"]


def role_in(envelope: Envelope) -> Role:
    return "signer" if envelope.kind is EnvelopeKind.signature else "approver"


async def signing_envelope_out(
    session: AsyncSession, envelope: Envelope, me: Recipient
) -> SigningEnvelopeOut:
    """What this recipient sees, and what they may do now (`me.actions`)."""
    is_signer = envelope.kind is EnvelopeKind.signature
    role = role_in(envelope)
    request = await service.signature_request_of(session, me) if is_signer else None
    return SigningEnvelopeOut(
        id=envelope.id,
        kind=envelope.kind,
        status=envelope.status,
        level=envelope.level,
        name=envelope.name,
        message=envelope.message,
        sender_name=sender_name(envelope),
        expires_at=envelope.expires_at,
        me=SigningMe(
            recipient_id=me.id,
            position=me.position,
            role=role,
            status=me.status,
            actions=actions_of(envelope, me, request),
            signature=signature_state(request),
            consent_text=service.consent_text(me) if is_signer else None,
        ),
        recipients=[
            SigningParticipant(
                position=r.position,
                name=recipient_name(r),
                role=role,
                status=r.status,
                is_me=r.id == me.id,
            )
            for r in envelope.recipients
        ],
        documents=[
            SigningDocument(
                id=d.id,
                filename=d.filename,
                content_type=d.content_type,
                size_bytes=d.size_bytes,
                page_count=d.page_count,
            )
            for d in envelope.documents
        ],
    )


def actions_of(
    envelope: Envelope, recipient: Recipient, request: SignatureRequest | None
) -> list[Action]:
    try:
        service.require_turn(envelope, recipient)
    except DomainError:
        return []
    if envelope.kind is EnvelopeKind.approval:
        return ["approve", "decline"]
    if request is not None:
        return []
    return ["sign", "decline"]


def signature_state(request: SignatureRequest | None) -> Literal["pending", "applied"] | None:
    if request is None or request.status is SignatureRequestStatus.abandoned:
        return None
    return "applied" if request.status is SignatureRequestStatus.applied else "pending"


def preview_out(envelope: Envelope, runtime: Runtime) -> PreviewOut:
    """The recipients in order and the first invitation email, exactly as it will be sent."""
    role = role_in(envelope)
    lines = [
        SummaryLine(
            position=r.position,
            recipient_id=r.id,
            name=recipient_name(r),
            email=recipient_email(r),
            role=role,
            is_sender=r.is_sender,
        )
        for r in envelope.recipients
    ]
    first = envelope.recipients[0] if envelope.recipients else None
    invitation = _invitation_preview(envelope, first, runtime) if first else None
    return PreviewOut(recipients=lines, invitation=invitation)


def _invitation_preview(envelope: Envelope, first: Recipient, runtime: Runtime) -> EmailPreview:
    to = addressee_of(first)
    email = compose(
        envelope,
        EmailKind.invitation,
        to,
        secrets=runtime.secrets,
        link_template=runtime.settings.signing_link_template,
        expires_at=service.expiry_at_send(envelope, runtime.clock.now(), runtime.settings),
    )
    return EmailPreview(to=to.address, subject=email.subject, html=email.html, text=email.text)
