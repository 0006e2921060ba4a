"""Stamps: where each signer's visible signature goes on each document."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from app.api.deps import PrincipalDep, SessionDep, SettingsDep
from app.api.problems import problems
from app.envelopes import stamps
from app.envelopes.schemas import StampOut, StampPut

router = APIRouter(
    prefix="/v1/envelopes/{envelope_id}/documents/{document_id}/stamps", tags=["stamps"]
)


@router.put(
    "/{recipient_id}",
    response_model=StampOut,
    operation_id="putStamp",
    responses={201: {"model": StampOut}, **problems(401, 404, 409, 422)},
)
async def put_stamp(
    envelope_id: uuid.UUID,
    document_id: uuid.UUID,
    recipient_id: uuid.UUID,
    body: StampPut,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    response: Response,
) -> StampOut:
    """Place (201) or move (200) this signer's one stamp on this document.

    Coordinates are PDF points from the top-left corner of the page as displayed.
    """
    stamp, created = await stamps.put_stamp(
        session,
        principal,
        envelope_id=envelope_id,
        document_id=document_id,
        recipient_id=recipient_id,
        data=body,
        text_max_length=settings.stamp_text_max_length,
    )
    response.status_code = 201 if created else 200
    return StampOut.model_validate(stamp)


@router.delete(
    "/{recipient_id}",
    status_code=204,
    operation_id="deleteStamp",
    responses=problems(401, 404, 409),
)
async def delete_stamp(
    envelope_id: uuid.UUID,
    document_id: uuid.UUID,
    recipient_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    await stamps.delete_stamp(
        session,
        principal,
        envelope_id=envelope_id,
        document_id=document_id,
        recipient_id=recipient_id,
    )
    return Response(status_code=204)
