"""What the workflow shows: the envelope as a recipient sees it (with what they may do now),
and the sender's preview of the queue and of the first invitation."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.activity import Step
from app.envelopes.models import (
    Delivery,
    Document,
    Envelope,
    EnvelopeKind,
    Recipient,
    RecipientStatus,
)
from app.envelopes.people import recipient_email, recipient_name, sender_name
from app.envelopes.states import DONE_RECIPIENT
from app.errors import DomainError
from app.notifications.content import EmailKind
from app.runtime import Runtime
from app.workflow import identity, otp, rules, service, turns
from app.workflow.mail import addressee_of, compose
from app.workflow.models import SignatureRequest, SignatureRequestStatus
from app.workflow.otp_rules import phone_hint
from app.workflow.schemas import (
    CeremonyStep,
    EmailPreview,
    PreviewOut,
    Role,
    SigningDocument,
    SigningEnvelopeOut,
    SigningMe,
    SigningPage,
    SigningParticipant,
    SigningStamp,
    SummaryLine,
)

Action = Literal["approve", "sign", "decline"]


def role_in(envelope: Envelope) -> Role:
    return "signer" if envelope.kind is EnvelopeKind.signature else "approver"


async def signing_envelope_out(
    session: AsyncSession, step: Step, envelope: Envelope, me: Recipient, session_id: uuid.UUID
) -> SigningEnvelopeOut:
    """What this recipient sees, what they may do now (`me.actions`) and their steps."""
    is_signer = envelope.kind is EnvelopeKind.signature
    role = role_in(envelope)
    request = await service.signature_request_of(session, me) if is_signer else None
    actions = actions_of(envelope, me, request)
    phone = otp.signer_phone(me) if otp.needs_code(envelope) else None
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
            actions=actions,
            signature=signature_state(request, me),
            consent_text=service.consent_text(me) if is_signer else None,
            steps=await _steps(session, step, envelope, me, request, session_id),
            phone_hint=phone_hint(phone) if phone else None,
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
        documents=[_signing_document(d, envelope, me) for d in envelope.documents],
    )


def _signing_document(document: Document, envelope: Envelope, me: Recipient) -> SigningDocument:
    """With what the signing page draws: each page's size, and the stamps' boxes on them."""
    positions = {r.id: r.position for r in envelope.recipients}
    return SigningDocument(
        id=document.id,
        filename=document.filename,
        content_type=document.content_type,
        size_bytes=document.size_bytes,
        page_count=document.page_count,
        pages=[SigningPage(width=p["width"], height=p["height"]) for p in document.pages or []],
        stamps=[
            SigningStamp(
                position=positions[s.recipient_id],
                is_me=s.recipient_id == me.id,
                page=s.page,
                x=s.x,
                y=s.y,
                width=s.width,
                height=s.height,
            )
            for s in sorted(document.stamps, key=lambda s: positions[s.recipient_id])
        ],
    )


async def _steps(
    session: AsyncSession,
    step: Step,
    envelope: Envelope,
    me: Recipient,
    request: SignatureRequest | None,
    session_id: uuid.UUID,
) -> list[CeremonyStep]:
    sms = otp.needs_code(envelope)
    since = step.now - timedelta(seconds=step.settings.otp_verified_seconds)
    state = rules.CeremonyState(
        sms=sms,
        identity=identity.needs_identity(envelope),
        acted=me.status in DONE_RECIPIENT or request is not None,
        my_turn=_my_turn(envelope, me),
        sms_verified=sms and await otp.code_verified_for(session, me, session_id, since=since),
        sms_blocked=me.otp_locked_at is not None or me.phone_unreachable_at is not None,
        identity_done=identity.needs_identity(envelope)
        and await identity.approved_identity(session, me) is not None,
    )
    return [CeremonyStep(step=name, status=status) for name, status in rules.ceremony_steps(state)]


def _my_turn(envelope: Envelope, me: Recipient) -> bool:
    try:
        turns.require_turn(envelope, me)
    except DomainError:
        return False
    return True


def actions_of(
    envelope: Envelope, recipient: Recipient, request: SignatureRequest | None
) -> list[Action]:
    try:
        turns.require_turn(envelope, recipient)
    except DomainError:
        return []
    if envelope.kind is EnvelopeKind.approval:
        return ["approve", "decline"]
    if request is not None:
        return []
    return ["sign", "decline"]


def signature_state(
    request: SignatureRequest | None, me: Recipient
) -> Literal["pending", "applied"] | None:
    """`applied` only together with the status `signed`. The view reads the envelope, then
    the request, each at its own moment (READ COMMITTED): when the signing job commits in
    between, the request is applied while the recipient read a moment earlier is not signed
    yet; that view says `pending`, and the next read says both."""
    if request is None or request.status is SignatureRequestStatus.abandoned:
        return None
    applied = request.status is SignatureRequestStatus.applied
    return "applied" if applied and me.status is RecipientStatus.signed else "pending"


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
    emailed = first is not None and first.delivery is Delivery.email
    invitation = _invitation_preview(envelope, first, runtime) if first and emailed else None
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
