"""Loading an envelope for the workflow, with everything its rules and emails read."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from app.activity import Ref
from app.envelopes.models import Document, Envelope, Recipient
from app.errors import NotFound


async def load_envelope(
    session: AsyncSession,
    envelope_id: uuid.UUID,
    *,
    lock: bool,
    tenant_id: uuid.UUID | None = None,
    stamps: bool = True,
) -> Envelope:
    """With lock, the envelope's row lock serialises every step of its workflow. Without
    stamps (emails, evidence: a query fewer), reading a document's stamps raises."""
    documents = selectinload(Envelope.documents)
    query = (
        select(Envelope)
        .where(Envelope.id == envelope_id)
        .options(
            # Joined for the many-to-one users: two queries fewer on every workflow step.
            joinedload(Envelope.sender_user),
            documents.selectinload(Document.stamps) if stamps else documents.raiseload("*"),
            selectinload(Envelope.recipients).joinedload(Recipient.user),
        )
    )
    if tenant_id is not None:
        query = query.where(Envelope.tenant_id == tenant_id)
    if lock:
        query = query.with_for_update(of=Envelope).execution_options(populate_existing=True)
    envelope = await session.scalar(query)
    if envelope is None:
        raise NotFound("envelope")
    return envelope


async def lock_envelope_row(session: AsyncSession, envelope_id: uuid.UUID) -> Ref:
    """Only the row lock that appending to the evidence chain needs, without loading anything."""
    row = (
        await session.execute(
            select(Envelope.id, Envelope.tenant_id)
            .where(Envelope.id == envelope_id)
            .with_for_update(key_share=True)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("envelope")
    return Ref(row.id, row.tenant_id)
