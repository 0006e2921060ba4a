"""Use cases of the drafting API on documents: the upload's budget, recording an uploaded
file, removing one. The bytes themselves are streamed and stored by the HTTP edge."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activity import Step
from app.envelopes.models import Document, Envelope, EnvelopeKind
from app.envelopes.rules import Budget
from app.envelopes.service import find_document, get_draft, require_draft
from app.errors import NotFound, PayloadTooLarge
from app.evidence.schemas import EventType
from app.tenants.service import Principal


@dataclass(frozen=True)
class UploadedFile:
    """A file that has been streamed, hashed and checked, ready to be recorded."""

    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    page_count: int | None
    pages: Sequence[dict[str, object]] | None


async def upload_budget(
    session: AsyncSession, principal: Principal, envelope_id: uuid.UUID, *, limit_bytes: int
) -> tuple[EnvelopeKind, Budget]:
    """What an upload may use, in one query: checked before a byte of the body is read."""
    used = (
        select(func.coalesce(func.sum(Document.size_bytes), 0))
        .where(Document.envelope_id == Envelope.id)
        .scalar_subquery()
    )
    row = (
        await session.execute(
            select(Envelope.kind, Envelope.status, used).where(
                Envelope.id == envelope_id, Envelope.tenant_id == principal.tenant_id
            )
        )
    ).first()
    if row is None:
        raise NotFound("envelope")
    kind, status, used_bytes = row
    require_draft(status)
    return kind, Budget(int(used_bytes), limit_bytes)


async def record_document(
    session: AsyncSession,
    step: Step,
    principal: Principal,
    envelope_id: uuid.UUID,
    file: UploadedFile,
    *,
    limit_bytes: int,
) -> Document:
    """Checks the budget again under the envelope's lock: concurrent uploads cannot overshoot."""
    envelope = await session.scalar(
        select(Envelope)
        .where(Envelope.id == envelope_id, Envelope.tenant_id == principal.tenant_id)
        .with_for_update()
    )
    if envelope is None:
        raise NotFound("envelope")
    require_draft(envelope.status)
    used_bytes = await session.scalar(
        select(func.coalesce(func.sum(Document.size_bytes), 0)).where(
            Document.envelope_id == envelope.id
        )
    )
    budget = Budget(int(used_bytes or 0), limit_bytes)
    if not budget.admits(file.size_bytes):
        raise envelope_too_large(budget)
    document = Document(
        id=uuid.uuid4(),
        tenant_id=envelope.tenant_id,
        envelope_id=envelope.id,
        filename=file.filename,
        content_type=file.content_type,
        size_bytes=file.size_bytes,
        sha256=file.sha256,
        page_count=file.page_count,
        pages=list(file.pages) if file.pages is not None else None,
        stamps=[],
    )
    session.add(document)
    await session.flush()
    await step.record(
        session,
        envelope,
        EventType.document_added,
        document_id=str(document.id),
        filename=document.filename,
        sha256=document.sha256,
        size_bytes=document.size_bytes,
    )
    await session.refresh(document, ["created_at"])
    return document


def envelope_too_large(budget: Budget) -> PayloadTooLarge:
    return PayloadTooLarge(
        "envelope_too_large",
        f"The envelope's documents may total {budget.limit_bytes} bytes; "
        f"{budget.used_bytes} are used, {budget.remaining_bytes} remain.",
        used_bytes=budget.used_bytes,
        limit_bytes=budget.limit_bytes,
    )


async def delete_document(
    session: AsyncSession,
    step: Step,
    principal: Principal,
    envelope_id: uuid.UUID,
    document_id: uuid.UUID,
) -> None:
    envelope = await get_draft(session, principal, envelope_id)
    document = find_document(envelope, document_id)
    envelope.documents.remove(document)
    await session.flush()
    await step.record(
        session,
        envelope,
        EventType.document_deleted,
        document_id=str(document_id),
        sha256=document.sha256,
    )
