"""The sender's side of a running envelope: preview, send, cancel, remind, the audit trail."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import (
    EnvelopePresenter,
    EnvelopeViewDep,
    PrincipalDep,
    RuntimeDep,
    SenderStepDep,
    SessionDep,
)
from app.api.documents import blob_file
from app.api.idempotent import Answer, IdempotencyKey, answer_once
from app.api.problems import problems
from app.envelopes.models import Envelope
from app.envelopes.schemas import EnvelopeOut
from app.errors import Conflict
from app.evidence.schemas import EnvelopeEvents, EventOut
from app.evidence.service import envelope_events
from app.workflow import service
from app.workflow.loading import load_envelope
from app.workflow.schemas import CancelIn, PreviewOut, RemindOut
from app.workflow.views import preview_out

router = APIRouter(prefix="/v1/envelopes", tags=["workflow"])


@router.get(
    "/{envelope_id}/preview",
    response_model=PreviewOut,
    operation_id="previewEnvelope",
    responses=problems(401, 404),
)
async def preview_envelope(
    envelope_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, runtime: RuntimeDep
) -> PreviewOut:
    """The recipients in order and the first invitation email, exactly as it will be sent."""
    envelope = await load_envelope(session, envelope_id, lock=False, tenant_id=principal.tenant_id)
    return preview_out(envelope, runtime)


@router.post(
    "/{envelope_id}/send",
    response_model=EnvelopeOut,
    operation_id="sendEnvelope",
    responses=problems(401, 404, 409, 422),
)
async def send_envelope(
    envelope_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    step: SenderStepDep,
    runtime: RuntimeDep,
    present: EnvelopeViewDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Start the workflow: invites the first recipient only. Refused with every blocker if
    the envelope is not ready (422 `envelope_not_ready`)."""

    async def send() -> Answer:
        envelope = await load_envelope(
            session, envelope_id, lock=True, tenant_id=principal.tenant_id
        )
        await service.send(session, step, envelope, runtime)
        return (await _after_change(session, envelope, present)).model_dump(mode="json")

    return await answer_once(
        session,
        step,
        principal,
        operation="sendEnvelope",
        key=idempotency_key,
        payload=str(envelope_id),
        status_code=200,
        work=send,
    )


@router.post(
    "/{envelope_id}/cancel",
    response_model=EnvelopeOut,
    operation_id="cancelEnvelope",
    responses=problems(401, 404, 409, 410, 422),
)
async def cancel_envelope(
    envelope_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    step: SenderStepDep,
    present: EnvelopeViewDep,
    body: Annotated[CancelIn | None, Body()] = None,
) -> EnvelopeOut:
    """Stop an envelope in progress; recipients already invited are told, with the reason.

    The body is optional."""
    envelope = await load_envelope(session, envelope_id, lock=True, tenant_id=principal.tenant_id)
    await service.cancel(session, step, envelope, body.reason if body else None)
    return await _after_change(session, envelope, present)


async def _after_change(
    session: AsyncSession, envelope: Envelope, present: EnvelopePresenter
) -> EnvelopeOut:
    """updated_at is set by the database: read it back before answering."""
    await session.flush()
    await session.refresh(envelope, ["updated_at"])
    return await present(envelope)


@router.post(
    "/{envelope_id}/remind",
    response_model=RemindOut,
    status_code=202,
    operation_id="remindEnvelope",
    responses=problems(401, 404, 409, 410, 429),
)
async def remind_envelope(
    envelope_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, step: SenderStepDep
) -> RemindOut:
    """Remind the recipient whose turn it is. At most once per cool-down (429, Retry-After)."""
    envelope = await load_envelope(session, envelope_id, lock=True, tenant_id=principal.tenant_id)
    recipient = await service.remind(session, step, envelope)
    return RemindOut(recipient_id=recipient.id, reminder_count=recipient.reminder_count)


@router.get(
    "/{envelope_id}/events",
    response_model=EnvelopeEvents,
    operation_id="listEnvelopeEvents",
    responses=problems(401, 404),
)
async def list_envelope_events(
    envelope_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> EnvelopeEvents:
    """The envelope's evidence log, oldest first, each event chained to the one before."""
    envelope = await load_envelope(session, envelope_id, lock=False, tenant_id=principal.tenant_id)
    events = await envelope_events(session, envelope.id)
    return EnvelopeEvents(data=[EventOut.model_validate(e) for e in events])


@router.get(
    "/{envelope_id}/evidence",
    operation_id="getEnvelopeEvidence",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The evidence PDF, sealed and timestamped by the platform",
        },
        **problems(401, 404, 409, 503),
    },
)
async def get_envelope_evidence(
    envelope_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, runtime: RuntimeDep
) -> FileResponse:
    """The evidence PDF of a completed envelope (signature or approval): envelope, sender,
    recipients and how each was authenticated, every event with time, IP and user agent, each
    document's SHA-256 before and after, and the event chain's hashes (409
    `evidence_not_ready` before completion and while it is being sealed)."""
    envelope = await load_envelope(session, envelope_id, lock=False, tenant_id=principal.tenant_id)
    if envelope.evidence_sha256 is None:
        raise Conflict(
            "evidence_not_ready",
            "The evidence PDF is made when the envelope completes.",
        )
    return await blob_file(
        runtime, envelope.evidence_sha256, "application/pdf", f"evidence-{envelope.id}.pdf"
    )
