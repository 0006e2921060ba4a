"""Envelope drafts: create (idempotent), read, list, edit, delete."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from app.api.deps import PrincipalDep, SenderStepDep, SessionDep, SettingsDep
from app.api.idempotent import IdempotencyKey, claim_key, remember_answer
from app.api.problems import problems
from app.envelopes import service
from app.envelopes.models import EnvelopeKind, EnvelopeStatus
from app.envelopes.schemas import EnvelopeCreate, EnvelopeOut, EnvelopePage, EnvelopeUpdate
from app.envelopes.views import envelope_out

router = APIRouter(prefix="/v1/envelopes", tags=["envelopes"])


@router.post(
    "",
    status_code=201,
    response_model=EnvelopeOut,
    operation_id="createEnvelope",
    responses=problems(400, 401, 422),
)
async def create_envelope(
    body: EnvelopeCreate,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    step: SenderStepDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create a draft envelope. `sender_signs_first` puts the sender first in the queue."""
    call, replay = await claim_key(
        session,
        principal,
        settings,
        operation="createEnvelope",
        key=idempotency_key,
        payload=body.model_dump(mode="json"),
    )
    if replay is not None:
        return _json(replay.body, replay.status_code, replayed=True)
    envelope = await service.create_envelope(session, principal, body)
    await step.record(session, envelope, "envelope.created", kind=envelope.kind.value)
    await session.refresh(envelope, ["created_at", "updated_at"])
    out = envelope_out(envelope, limit_bytes=settings.envelope_size_limit_bytes)
    content = out.model_dump(mode="json")
    await remember_answer(session, principal, call, status_code=201, body=content)
    return _json(content, 201)


def _json(content: dict[str, Any], status: int, *, replayed: bool = False) -> JSONResponse:
    headers = {"Location": f"/v1/envelopes/{content['id']}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(content, status_code=status, headers=headers)


@router.get(
    "",
    response_model=EnvelopePage,
    operation_id="listEnvelopes",
    responses=problems(400, 401, 422),
)
async def list_envelopes(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    status: EnvelopeStatus | None = None,
    kind: EnvelopeKind | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> EnvelopePage:
    """Newest first. Follow `next_cursor` until `has_more` is false."""
    filters = service.EnvelopeFilter(status=status, kind=kind)
    rows, next_cursor = await service.list_envelopes(
        session, principal, filters=filters, cursor=cursor, limit=limit
    )
    limit_bytes = settings.envelope_size_limit_bytes
    return EnvelopePage(
        data=[envelope_out(e, limit_bytes=limit_bytes) for e in rows],
        next_cursor=next_cursor,
        has_more=next_cursor is not None,
    )


@router.get(
    "/{envelope_id}",
    response_model=EnvelopeOut,
    operation_id="getEnvelope",
    responses=problems(401, 404),
)
async def get_envelope(
    envelope_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> EnvelopeOut:
    """Full state: documents with their badges, recipients in order, size, readiness."""
    envelope = await service.get_envelope(session, principal, envelope_id)
    return envelope_out(envelope, limit_bytes=settings.envelope_size_limit_bytes)


@router.patch(
    "/{envelope_id}",
    response_model=EnvelopeOut,
    operation_id="updateEnvelope",
    responses=problems(401, 404, 409, 422),
)
async def update_envelope(
    envelope_id: uuid.UUID,
    body: EnvelopeUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> EnvelopeOut:
    """Change a draft; only the fields sent are changed."""
    envelope = await service.update_envelope(session, principal, envelope_id, body)
    return envelope_out(envelope, limit_bytes=settings.envelope_size_limit_bytes)


@router.delete(
    "/{envelope_id}",
    status_code=204,
    operation_id="deleteEnvelope",
    responses=problems(401, 404, 409),
)
async def delete_envelope(
    envelope_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    await service.delete_envelope(session, principal, envelope_id)
    return Response(status_code=204)
