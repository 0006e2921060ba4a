"""Use cases of the drafting API on stamps: where each signer's signature goes on a document."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.envelopes.models import Document, Envelope, EnvelopeKind, Recipient, Stamp
from app.envelopes.readiness import EIDAS_LEVELS
from app.envelopes.rules import Box, Page, StampContext, StampRequest, stamp_problems
from app.envelopes.schemas import StampPut
from app.envelopes.service import find_document, get_draft
from app.errors import Conflict, FieldError, NotFound, ValidationFailed
from app.tenants.service import Principal


def pages_of(document: Document) -> list[Page]:
    return [
        Page(p["width"], p["height"], p["rotation"], tuple(p["crop_box"]))
        for p in document.pages or []
    ]


def box_of(stamp: Stamp) -> Box:
    return Box(stamp.page, stamp.x, stamp.y, stamp.width, stamp.height)


async def put_stamp(
    session: AsyncSession,
    principal: Principal,
    *,
    envelope_id: uuid.UUID,
    document_id: uuid.UUID,
    recipient_id: uuid.UUID,
    data: StampPut,
    text_max_length: int,
) -> tuple[Stamp, bool]:
    """Place or move one signer's stamp on one document; returns (stamp, created)."""
    envelope = await get_draft(session, principal, envelope_id)
    if envelope.kind is not EnvelopeKind.signature:
        raise Conflict("stamps_not_applicable", "Approval envelopes have no stamps.")
    document = find_document(envelope, document_id)
    await _check_signer(session, principal, envelope, recipient_id)
    request = StampRequest(
        Box(data.page, data.x, data.y, data.width, data.height),
        data.style,
        data.text,
    )
    others = [box_of(s) for s in document.stamps if s.recipient_id != recipient_id]
    context = StampContext(
        pages=pages_of(document),
        other_boxes=others,
        text_allowed=envelope.level not in EIDAS_LEVELS,
        text_max_length=text_max_length,
    )
    problems = stamp_problems(request, context)
    if problems:
        raise ValidationFailed("invalid_stamp", "The stamp cannot be placed there.", problems)
    stamp = next((s for s in document.stamps if s.recipient_id == recipient_id), None)
    created = stamp is None
    if stamp is None:
        stamp = Stamp(id=uuid.uuid4(), tenant_id=principal.tenant_id, recipient_id=recipient_id)
        document.stamps.append(stamp)
    for name in ("page", "x", "y", "width", "height", "style", "text"):
        setattr(stamp, name, getattr(data, name))
    await session.flush()
    return stamp, created


async def delete_stamp(
    session: AsyncSession,
    principal: Principal,
    *,
    envelope_id: uuid.UUID,
    document_id: uuid.UUID,
    recipient_id: uuid.UUID,
) -> None:
    envelope = await get_draft(session, principal, envelope_id)
    document = find_document(envelope, document_id)
    stamp = next((s for s in document.stamps if s.recipient_id == recipient_id), None)
    if stamp is None:
        raise NotFound("stamp")
    document.stamps.remove(stamp)
    await session.flush()


async def _check_signer(
    session: AsyncSession, principal: Principal, envelope: Envelope, recipient_id: uuid.UUID
) -> None:
    if any(r.id == recipient_id for r in envelope.recipients):
        return
    exists = await session.scalar(
        select(func.count())
        .select_from(Recipient)
        .where(Recipient.id == recipient_id, Recipient.tenant_id == principal.tenant_id)
    )
    if not exists:
        raise NotFound("recipient")
    raise ValidationFailed(
        "recipient_not_signer",
        "This recipient is not a signer of this envelope.",
        [FieldError("/recipient_id", "not a signer of this envelope")],
    )
