"""The recipient's side: exchange the emailed link for a session, see, download, act."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.deps import OriginDep, RuntimeDep, SessionDep
from app.api.documents import DOCUMENT_CONTENT_RESPONSES, document_file
from app.api.problems import problems
from app.envelopes.models import Envelope, EnvelopeKind, Recipient
from app.envelopes.service import find_document, recipient_email
from app.errors import DomainError, FieldError, Unauthenticated, ValidationFailed
from app.evidence.service import Actor
from app.storage.blobs import store_bytes
from app.workflow import service
from app.workflow.loading import load_envelope
from app.workflow.mail import recipient_name, sender_name
from app.workflow.models import SignatureRequest, SignatureRequestStatus
from app.workflow.schemas import (
    ApproveIn,
    DeclineIn,
    SessionIn,
    SessionOut,
    SignIn,
    SigningDocument,
    SigningEnvelopeOut,
    SigningMe,
    SigningParticipant,
)
from app.workflow.sessions import authenticate_session, open_session, session_expires_at
from app.workflow.signature_image import decode_signature_image

router = APIRouter(prefix="/v1/signing", tags=["signing"])

_session_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="RecipientSession",
    description="A recipient session from POST /v1/signing/sessions: `Bearer cachet_rs_...`",
)


@dataclass(frozen=True)
class Acting:
    """The recipient behind a session, with the envelope locked or not."""

    step: service.Step
    envelope: Envelope
    recipient: Recipient


def _step(runtime: RuntimeDep, origin: OriginDep) -> service.Step:
    return service.Step(
        now=runtime.clock.now(), settings=runtime.settings, secrets=runtime.secrets, origin=origin
    )


StepDep = Annotated[service.Step, Depends(_step)]


async def _acting(
    session: SessionDep,
    step: StepDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_session_bearer)],
    *,
    lock: bool,
) -> Acting:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing_session", "Send the session as 'Authorization: Bearer …'.")
    row = await authenticate_session(session, step, credentials.credentials)
    recipient_row = await session.get(Recipient, row.recipient_id)
    assert recipient_row is not None  # sessions are deleted with their recipient
    envelope = await load_envelope(session, recipient_row.envelope_id, lock=lock)
    recipient = next(r for r in envelope.recipients if r.id == row.recipient_id)
    actor = Actor("recipient", id=str(recipient.id), email=recipient_email(recipient))
    acting_step = service.Step(
        now=step.now, settings=step.settings, secrets=step.secrets, actor=actor, origin=step.origin
    )
    return Acting(acting_step, envelope, recipient)


async def reading(
    session: SessionDep,
    step: StepDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_session_bearer)],
) -> Acting:
    return await _acting(session, step, credentials, lock=False)


async def acting(
    session: SessionDep,
    step: StepDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_session_bearer)],
) -> Acting:
    """Locks the envelope: concurrent actions on one envelope run one after the other."""
    return await _acting(session, step, credentials, lock=True)


ReadingDep = Annotated[Acting, Depends(reading)]
ActingDep = Annotated[Acting, Depends(acting)]


@router.post(
    "/sessions",
    response_model=SessionOut,
    status_code=201,
    operation_id="openSigningSession",
    responses=problems(404, 410, 422),
)
async def open_signing_session(
    body: SessionIn, session: SessionDep, step: StepDep, runtime: RuntimeDep
) -> SessionOut:
    """Exchange the emailed link's token for a session. The first exchange records "opened"
    (with IP and user agent); the link stays usable for new sessions."""
    opened = await open_session(session, step, body.token)
    return SessionOut(
        session_token=opened.secret,
        expires_at=session_expires_at(
            opened.session, runtime.settings.recipient_session_idle_minutes
        ),
        envelope_id=opened.envelope.id,
        recipient_id=opened.recipient.id,
    )


@router.get(
    "/envelope",
    response_model=SigningEnvelopeOut,
    operation_id="getSigningEnvelope",
    responses=problems(401),
)
async def get_signing_envelope(who: ReadingDep, session: SessionDep) -> SigningEnvelopeOut:
    """What this recipient sees, and what they may do now (`me.actions`)."""
    envelope, me = who.envelope, who.recipient
    is_signer = envelope.kind is EnvelopeKind.signature
    role = "signer" if is_signer else "approver"
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
            actions=_actions(envelope, me, request),
            signature=_signature_state(request),
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


def _actions(
    envelope: Envelope, recipient: Recipient, request: SignatureRequest | None
) -> list[Literal["approve", "sign", "decline"]]:
    try:
        service.require_turn(envelope, recipient)
    except DomainError:
        return []
    if envelope.kind is EnvelopeKind.approval:
        return ["approve", "decline"]
    if request is not None:
        return []
    return ["sign", "decline"]


def _signature_state(request: SignatureRequest | None) -> Literal["pending", "applied"] | None:
    if request is None or request.status is SignatureRequestStatus.abandoned:
        return None
    return "applied" if request.status is SignatureRequestStatus.applied else "pending"


@router.get(
    "/documents/{document_id}/content",
    operation_id="getSigningDocumentContent",
    response_class=FileResponse,
    responses=DOCUMENT_CONTENT_RESPONSES,
)
async def get_signing_document_content(
    document_id: uuid.UUID, who: ReadingDep, runtime: RuntimeDep
) -> FileResponse:
    """A document of this envelope, for the recipient to read before acting."""
    return document_file(runtime, find_document(who.envelope, document_id))


@router.post(
    "/approve",
    response_model=SigningEnvelopeOut,
    operation_id="approveEnvelope",
    responses=problems(401, 409, 410, 422),
)
async def approve(body: ApproveIn, session: SessionDep, who: ActingDep) -> SigningEnvelopeOut:
    """Approve, when it is this recipient's turn (409 `not_your_turn` otherwise)."""
    await service.approve(session, who.step, who.envelope, who.recipient, body.comment)
    return await get_signing_envelope(who, session)


@router.post(
    "/decline",
    response_model=SigningEnvelopeOut,
    operation_id="declineEnvelope",
    responses=problems(401, 409, 410, 422),
)
async def decline(body: DeclineIn, session: SessionDep, who: ActingDep) -> SigningEnvelopeOut:
    """Decline with a reason: the envelope ends and the sender is told."""
    await service.decline(session, who.step, who.envelope, who.recipient, body.reason)
    return await get_signing_envelope(who, session)


@router.post(
    "/sign",
    response_model=SigningEnvelopeOut,
    status_code=202,
    operation_id="signEnvelope",
    responses=problems(401, 409, 410, 422),
)
async def sign(
    body: SignIn, session: SessionDep, who: ActingDep, runtime: RuntimeDep
) -> SigningEnvelopeOut:
    """Sign, when it is this signer's turn: records the consent and the handwritten image, then
    a job signs every document (`me.signature` is `pending`, then `applied` and `me.status`
    becomes `signed`; poll GET /envelope or wait for the `recipient.signed` webhook)."""
    if not body.consent:
        raise ValidationFailed(
            "consent_required",
            "Signing needs the signer's consent: send consent=true once they accepted it.",
            [FieldError("/consent", "must be true")],
        )
    # Decoding a PNG of up to 2000x2000 pixels takes milliseconds of CPU: off the event loop.
    image = await anyio.to_thread.run_sync(
        partial(
            decode_signature_image,
            body.signature_image,
            max_bytes=runtime.settings.signature_image_max_bytes,
        )
    )
    # Refused before the image is stored, so a refused request leaves nothing behind.
    await service.require_can_sign(session, who.envelope, who.recipient)
    image_sha256 = await store_bytes(runtime.blobs, image.png, prefix="signature-image-")
    await service.request_signature(
        session,
        who.step,
        who.envelope,
        who.recipient,
        image_sha256=image_sha256,
        image_size=(image.width, image.height),
        method=service.SIGNING_METHOD,
    )
    return await get_signing_envelope(who, session)
