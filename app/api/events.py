"""The tenant-wide event feed, for clients that missed webhooks."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import PrincipalDep, SessionDep
from app.api.problems import problems
from app.errors import BadRequest
from app.evidence.schemas import EventOut, EventPage
from app.evidence.service import feed_page

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.get("", response_model=EventPage, operation_id="listEvents", responses=problems(400, 401))
async def list_events(
    session: SessionDep,
    principal: PrincipalDep,
    after: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> EventPage:
    """Every event of the tenant's envelopes in a stable order: a cursor never skips one.

    Keep the last `next_cursor` and poll with it; new events appear after it."""
    position = decode_feed_cursor(after) if after else None
    events = await feed_page(session, principal.tenant_id, after=position, limit=limit)
    if events:
        position = (events[-1].xact_id, events[-1].id)
    return EventPage(
        data=[EventOut.model_validate(e) for e in events],
        next_cursor=encode_feed_cursor(position) if position else after,
    )


def encode_feed_cursor(position: tuple[int, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode().rstrip("=")


def decode_feed_cursor(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        xact_id, event_id = json.loads(raw)
        if not (isinstance(xact_id, int) and isinstance(event_id, int)):
            raise ValueError
        if not (0 <= xact_id < 2**63 and 0 <= event_id < 2**63):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("invalid_cursor", "The cursor is not one this API returned.") from None
    return xact_id, event_id
