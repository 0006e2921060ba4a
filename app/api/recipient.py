"""The recipient's side: exchange the emailed link for a session, see, download, act."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.activity import Step, step_at
from app.api.deps import OriginDep, RuntimeDep, SessionDep
from app.api.documents import (
    DEFAULT_PAGE_SCALE,
    DOCUMENT_CONTENT_RESPONSES,
    PageNumber,
    PageScale,
    document_file,
    page_image,
    page_image_responses,
)
from app.api.problems import problems
from app.api.request_log import note_tenant
from app.db import transaction
from app.envelopes.models import Envelope, Recipient
from app.envelopes.people import recipient_email
from app.envelopes.service import find_document
from app.errors import Conflict, Unauthenticated
from app.evidence.service import Actor
from app.workflow import identity, identity_flow, otp, service
from app.workflow.models import OtpState
from app.workflow.schemas import (
    ApproveIn,
    DeclineIn,
    IdentityOut,
    OtpSent,
    OtpVerified,
    OtpVerifyIn,
    SessionIn,
    SessionOut,
    SignIn,
    SigningEnvelopeOut,
)
from app.workflow.sessions import open_session, session_expires_at, session_holder
from app.workflow.sms import send_outcome
from app.workflow.views import signing_envelope_out

router = APIRouter(prefix="/v1/signing", tags=["signing"])

_session_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="RecipientSession",
    description="A recipient session from POST /v1/signing/sessions: `Bearer cachet_rs_...`",
)


SessionCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_session_bearer)]


@dataclass(frozen=True)
class Acting:
    """The recipient behind a session, with the envelope locked or not."""

    step: Step
    envelope: Envelope
    recipient: Recipient
    session_id: uuid.UUID


def _step(runtime: RuntimeDep, origin: OriginDep) -> Step:
    return step_at(runtime, origin=origin)


StepDep = Annotated[Step, Depends(_step)]


async def _acting(
    session: SessionDep,
    step: StepDep,
    credentials: SessionCredentials,
    *,
    lock: bool,
    request: Request,
) -> Acting:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing_session", "Send the session as 'Authorization: Bearer …'.")
    holder = await session_holder(session, step, credentials.credentials, lock=lock)
    note_tenant(request, holder.envelope.tenant_id)  # the request line names whose envelope
    recipient = holder.recipient
    actor = Actor("recipient", id=str(recipient.id), email=recipient_email(recipient))
    return Acting(step.by(actor), holder.envelope, recipient, holder.session_id)


async def reading(
    request: Request,
    session: SessionDep,
    step: StepDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_session_bearer)],
) -> Acting:
    return await _acting(session, step, credentials, lock=False, request=request)


async def acting(
    request: Request,
    session: SessionDep,
    step: StepDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_session_bearer)],
) -> Acting:
    """Locks the envelope: concurrent actions on one envelope run one after the other."""
    return await _acting(session, step, credentials, lock=True, request=request)


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
        expires_at=session_expires_at(opened.session, runtime.settings),
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
    """What this recipient sees, what they may do now (`me.actions`), and their steps in
    order (`me.steps`: the email link, the SMS code and identity check of the eIDAS levels,
    then signing)."""
    return await signing_envelope_out(
        session, who.step, who.envelope, who.recipient, who.session_id
    )


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
    return await document_file(runtime, find_document(who.envelope, document_id))


@router.get(
    "/documents/{document_id}/pages/{page}.png",
    operation_id="getSigningDocumentPage",
    response_class=Response,
    responses=page_image_responses(401, 404, 409, 410, 422, 503),
)
async def get_signing_document_page(
    document_id: uuid.UUID,
    page: PageNumber,
    who: ReadingDep,
    runtime: RuntimeDep,
    request: Request,
    scale: PageScale = DEFAULT_PAGE_SCALE,
) -> Response:
    """A page of a PDF document as an image, drawn on the server (the signing page shows
    these, not the PDF): the newest version, with the signatures applied so far. 409
    `not_a_pdf` for other files (download them instead); 404 `page_not_found` past the
    last page."""
    document = find_document(who.envelope, document_id)
    return await page_image(runtime, document, page, scale, request)


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
    await service.sign(
        session,
        who.step,
        who.envelope,
        who.recipient,
        consent=body.consent,
        signature_image=body.signature_image,
        blobs=runtime.blobs,
        session_id=who.session_id,
    )
    return await get_signing_envelope(who, session)


@router.post(
    "/otp",
    response_model=OtpSent,
    status_code=202,
    operation_id="requestSigningCode",
    responses=problems(401, 409, 410, 422, 423, 429),
)
async def request_otp(
    runtime: RuntimeDep,
    step: StepDep,
    credentials: SessionCredentials,
    request: Request,
) -> OtpSent:
    """eIDAS levels: send a one-time code to the signer's phone (`me.phone_hint`). A new code
    replaces the last. At most one send per 30 s and 3 per 15 minutes (429 `otp_rate_limited`
    with Retry-After); a number the provider cannot reach is 422 `phone_unreachable` (the
    sender is told); after 10 wrong codes, 423 `otp_locked` until the sender reminds."""
    async with transaction(runtime.sessions) as session:
        who = await _acting(session, step, credentials, lock=True, request=request)
        requested = await otp.request_code(
            session, who.step, who.envelope, who.recipient, session_id=who.session_id
        )
    # The send is a job; wait a moment for it, so that a refused number is told now.
    wait = runtime.settings.otp_send_wait_seconds
    state = await send_outcome(runtime, requested.code_id, within=wait)
    if state is OtpState.refused:
        raise otp.unreachable()
    return OtpSent(
        expires_at=requested.expires_at,
        resend_after_seconds=requested.resend_after_seconds,
        phone_hint=requested.phone_hint,
        status="sent" if state is OtpState.sent else "queued",
    )


@router.post(
    "/otp/verify",
    response_model=OtpVerified,
    operation_id="verifySigningCode",
    responses=problems(401, 409, 410, 422, 423),
)
async def verify_otp(
    body: OtpVerifyIn,
    runtime: RuntimeDep,
    step: StepDep,
    credentials: SessionCredentials,
    request: Request,
) -> OtpVerified:
    """Enter the code. Right: this session may sign for CACHET_OTP_VERIFIED_SECONDS. Wrong:
    422 `otp_invalid` with `attempts_left` (5 per code); expired or replaced: 422
    `otp_expired` / `otp_used`; the 10th wrong code in a row locks: 423 `otp_locked`."""
    async with transaction(runtime.sessions) as session:
        who = await _acting(session, step, credentials, lock=True, request=request)
        entered = await otp.verify_code(
            session,
            who.step,
            who.envelope,
            who.recipient,
            session_id=who.session_id,
            code=body.code,
        )
    if entered.refusal is not None:  # raised after the commit: the failure stays counted
        raise entered.refusal
    return OtpVerified(verified=True)


@router.post(
    "/identity",
    response_model=IdentityOut,
    status_code=201,
    operation_id="startIdentityCheck",
    responses={
        200: {"model": IdentityOut, "description": "a check already open, given again"},
        **problems(401, 403, 409, 410, 502, 503),
    },
)
async def start_identity_check(
    response: Response,
    runtime: RuntimeDep,
    step: StepDep,
    credentials: SessionCredentials,
    request: Request,
) -> IdentityOut:
    """eIDAS advanced, after the SMS code: a session at the identity provider; the signer
    follows `verification_url` and comes back. A check still open is given again (200, no
    attempt spent). 403 `otp_required` before the SMS code, `identity_attempts_exhausted`
    after CACHET_IDV_MAX_ATTEMPTS checks, `identity_mismatch` when the document's names were
    not the recipient's (the sender corrects the name, which re-invites); 409
    `identity_already_verified`; 503 `identity_provider_unavailable` (Retry-After) or 502
    `identity_provider_error` when the provider fails (no attempt spent)."""
    async with transaction(runtime.sessions) as session:
        who = await _acting(session, step, credentials, lock=True, request=request)
        reservation = await identity.reserve(
            session,
            who.step,
            who.envelope,
            who.recipient,
            session_id=who.session_id,
            provider=runtime.identity.name,
        )
    if reservation.request is None:
        response.status_code = 200
        return _identity_out(reservation.view)
    return _identity_out(
        await identity_flow.start(runtime, reservation.row_id, reservation.request)
    )


@router.get(
    "/identity",
    response_model=IdentityOut,
    operation_id="getIdentityCheck",
    responses=problems(401, 409),
)
async def get_identity_check(
    runtime: RuntimeDep,
    step: StepDep,
    credentials: SessionCredentials,
    request: Request,
) -> IdentityOut:
    """Where the signer's identity check stands. An open check not read from the provider in
    the last seconds is read now (the signer's page may poll this)."""
    async with runtime.sessions() as session:
        who = await _acting(session, step, credentials, lock=False, request=request)
        if not identity.needs_identity(who.envelope):
            raise Conflict(
                "identity_not_needed", "This envelope's level asks for no identity check."
            )
        rows = await identity.current_verifications(session, who.recipient)
    if rows:
        await identity_flow.nudge(runtime, rows[-1])
        async with runtime.sessions() as session:
            rows = await identity.current_verifications(session, who.recipient)
    return _identity_out(identity.view_of(rows, runtime.settings.idv_max_attempts))


def _identity_out(view: identity.IdentityView) -> IdentityOut:
    return IdentityOut(
        status=view.status,
        reason=view.reason,
        attempts_left=view.attempts_left,
        verification_url=view.verification_url,
        provider=view.provider,
    )
