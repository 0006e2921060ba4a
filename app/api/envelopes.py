"""Envelope drafts: create (idempotent), read, list, edit, delete."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from app.api.deps import EnvelopeViewDep, PrincipalDep, SenderStepDep, SessionDep
from app.api.idempotent import Answer, IdempotencyKey, answer_once
from app.api.problems import problems
from app.envelopes import service
from app.envelopes.models import EnvelopeKind, EnvelopeStatus
from app.envelopes.schemas import EnvelopeCreate, EnvelopeOut, EnvelopePage, EnvelopeUpdate

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
    step: SenderStepDep,
    present: EnvelopeViewDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create a draft envelope. `sender_signs_first` puts the sender first in the queue."""

    async def create() -> Answer:
        envelope = await service.create_envelope(session, step, principal, body)
        return (await present(envelope)).model_dump(mode="json")

    return await answer_once(
        session,
        step,
        principal,
        operation="createEnvelope",
        key=idempotency_key,
        payload=body.model_dump(mode="json"),
        status_code=201,
        work=create,
        headers_for=lambda answer: {"Location": f"/v1/envelopes/{answer['id']}"},
    )


@router.get(
    "",
    response_model=EnvelopePage,
    operation_id="listEnvelopes",
    responses=problems(400, 401, 422),
)
async def list_envelopes(
    session: SessionDep,
    principal: PrincipalDep,
    present: EnvelopeViewDep,
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
    return EnvelopePage(
        data=[await present(e) for e in rows],
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
    envelope_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, present: EnvelopeViewDep
) -> EnvelopeOut:
    """Full state: documents with their badges, recipients in order, size, readiness."""
    return await present(await service.get_envelope(session, principal, envelope_id))


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
    step: SenderStepDep,
    present: EnvelopeViewDep,
) -> EnvelopeOut:
    """Change a draft; only the fields sent are changed."""
    return await present(await service.update_envelope(session, step, principal, envelope_id, body))


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
