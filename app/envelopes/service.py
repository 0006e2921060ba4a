"""Use cases of the drafting API. Services flush, never commit: the caller owns the transaction."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.envelopes.models import (
    Document,
    Envelope,
    EnvelopeKind,
    EnvelopeStatus,
    Level,
    Recipient,
    Stamp,
)
from app.envelopes.rules import Box, Budget, Page, StampContext, StampRequest, stamp_problems
from app.envelopes.schemas import (
    EnvelopeCreate,
    EnvelopeUpdate,
    RecipientCreate,
    RecipientOrder,
    RecipientUpdate,
    SenderIn,
    StampPut,
)
from app.errors import (
    BadRequest,
    Conflict,
    FieldError,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from app.tenants.models import User
from app.tenants.service import Principal

EIDAS_LEVELS = frozenset({Level.eidas_simple, Level.eidas_advanced})
NULLABLE_ENVELOPE_FIELDS = frozenset({"name", "message", "expires_at", "reminders"})


# --- loading ----------------------------------------------------------------------------


def _envelope_query(principal: Principal) -> Select[Envelope]:
    return (
        select(Envelope)
        .where(Envelope.tenant_id == principal.tenant_id)
        .options(
            selectinload(Envelope.sender_user),
            selectinload(Envelope.documents).selectinload(Document.stamps),
            selectinload(Envelope.recipients).selectinload(Recipient.user),
        )
    )


async def get_envelope(
    session: AsyncSession, principal: Principal, envelope_id: uuid.UUID, *, lock: bool = False
) -> Envelope:
    query = _envelope_query(principal).where(Envelope.id == envelope_id)
    if lock:
        # Serialises every change to one envelope: budget and positions are checked under it.
        query = query.with_for_update(of=Envelope)
    envelope = await session.scalar(query.execution_options(populate_existing=lock))
    if envelope is None:
        raise NotFound("envelope")
    return envelope


async def get_draft(
    session: AsyncSession, principal: Principal, envelope_id: uuid.UUID
) -> Envelope:
    envelope = await get_envelope(session, principal, envelope_id, lock=True)
    _require_draft(envelope.status)
    return envelope


def _require_draft(status: EnvelopeStatus) -> None:
    if status is not EnvelopeStatus.draft:
        raise Conflict("envelope_not_draft", "Only a draft envelope can be changed.")


def find_document(envelope: Envelope, document_id: uuid.UUID) -> Document:
    for document in envelope.documents:
        if document.id == document_id:
            return document
    raise NotFound("document")


def find_recipient(envelope: Envelope, recipient_id: uuid.UUID) -> Recipient:
    for recipient in envelope.recipients:
        if recipient.id == recipient_id:
            return recipient
    raise NotFound("recipient")


def budget_of(envelope: Envelope, limit_bytes: int) -> Budget:
    return Budget(sum(d.size_bytes for d in envelope.documents), limit_bytes)


# --- envelopes --------------------------------------------------------------------------


async def create_envelope(
    session: AsyncSession, principal: Principal, data: EnvelopeCreate
) -> Envelope:
    level = _level_for(data.kind, data.level)
    _check_expiry(data.expires_at)
    envelope = Envelope(
        id=uuid.uuid4(),
        tenant_id=principal.tenant_id,
        kind=data.kind,
        status=EnvelopeStatus.draft,
        name=data.name,
        message=data.message,
        level=level,
        sender_signs_first=data.sender_signs_first,
        distribute_to_signers=data.distribute_to_signers,
        sender_copy=data.sender_copy,
        expires_at=data.expires_at,
        reminder_interval_days=data.reminders.interval_days if data.reminders else None,
        reminder_max_count=data.reminders.max_count if data.reminders else None,
        locale=data.locale,
        documents=[],
        recipients=[],
    )
    await _apply_sender(session, principal, envelope, data.sender)
    session.add(envelope)
    if data.sender_signs_first:
        _add_sender_recipient(envelope)
    await session.flush()
    return envelope


async def update_envelope(
    session: AsyncSession, principal: Principal, envelope_id: uuid.UUID, data: EnvelopeUpdate
) -> Envelope:
    envelope = await get_draft(session, principal, envelope_id)
    given = data.model_fields_set
    for name in given - NULLABLE_ENVELOPE_FIELDS:
        if getattr(data, name) is None and not (
            name == "level" and envelope.kind is EnvelopeKind.approval
        ):
            raise ValidationFailed.at(f"/{name}", f"{name} cannot be null")
    simple_fields = {"name", "message", "distribute_to_signers", "sender_copy", "locale"}
    for name in given & simple_fields:
        setattr(envelope, name, getattr(data, name))
    if "level" in given:
        envelope.level = _level_for(envelope.kind, data.level)
    if "expires_at" in given:
        _check_expiry(data.expires_at)
        envelope.expires_at = data.expires_at
    if "reminders" in given:
        envelope.reminder_interval_days = data.reminders.interval_days if data.reminders else None
        envelope.reminder_max_count = data.reminders.max_count if data.reminders else None
    if data.sender is not None:
        await _apply_sender(session, principal, envelope, data.sender)
        _sync_sender_recipient(envelope)
    if data.sender_signs_first is not None:
        _set_sender_signs_first(envelope, data.sender_signs_first)
    envelope.updated_at = datetime.now(UTC)
    await session.flush()
    return envelope


async def delete_envelope(
    session: AsyncSession, principal: Principal, envelope_id: uuid.UUID
) -> None:
    envelope = await get_draft(session, principal, envelope_id)
    # The database cascades to documents, recipients and stamps; deleting them one by one
    # through the ORM would delete some stamps twice (once per parent).
    await session.execute(delete(Envelope).where(Envelope.id == envelope.id))
    session.expunge(envelope)


@dataclass(frozen=True)
class EnvelopeFilter:
    status: EnvelopeStatus | None = None
    kind: EnvelopeKind | None = None


async def list_envelopes(
    session: AsyncSession,
    principal: Principal,
    *,
    filters: EnvelopeFilter,
    cursor: str | None,
    limit: int,
) -> tuple[list[Envelope], str | None]:
    """Newest first, keyset-paginated on (created_at, id) so pages never skip or repeat."""
    query = _envelope_query(principal)
    if filters.status is not None:
        query = query.where(Envelope.status == filters.status)
    if filters.kind is not None:
        query = query.where(Envelope.kind == filters.kind)
    if cursor is not None:
        created_at, last_id = decode_cursor(cursor)
        query = query.where(tuple_(Envelope.created_at, Envelope.id) < (created_at, last_id))
    query = query.order_by(Envelope.created_at.desc(), Envelope.id.desc()).limit(limit + 1)
    rows = list((await session.scalars(query)).all())
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor(page[-1])


def encode_cursor(envelope: Envelope) -> str:
    raw = json.dumps([envelope.created_at.isoformat(), str(envelope.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, last_id = json.loads(raw)
        return datetime.fromisoformat(created_at), uuid.UUID(last_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadRequest("invalid_cursor", "The cursor is not one this API returned.") from exc


def _level_for(kind: EnvelopeKind, level: Level | None) -> Level | None:
    if kind is EnvelopeKind.approval:
        if level is not None:
            raise ValidationFailed.at("/level", "approval envelopes have no signature level")
        return None
    return level or Level.simple


def _check_expiry(expires_at: datetime | None) -> None:
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise ValidationFailed.at("/expires_at", "expires_at must be in the future")


async def _resolve_user(
    session: AsyncSession, principal: Principal, external_id: str, pointer: str
) -> User:
    user = await session.scalar(
        select(User).where(User.tenant_id == principal.tenant_id, User.external_id == external_id)
    )
    if user is None:
        raise ValidationFailed.at(pointer, f"no user {external_id!r} in the user directory")
    return user


async def _apply_sender(
    session: AsyncSession, principal: Principal, envelope: Envelope, sender: SenderIn
) -> None:
    if sender.user_id is not None:
        envelope.sender_user = await _resolve_user(
            session, principal, sender.user_id, "/sender/user_id"
        )
        envelope.sender_email = envelope.sender_first_name = envelope.sender_last_name = None
    else:
        envelope.sender_user = None
        envelope.sender_email = sender.email
        envelope.sender_first_name = sender.first_name
        envelope.sender_last_name = sender.last_name


def sender_email(envelope: Envelope) -> str:
    if envelope.sender_user is not None:
        return envelope.sender_user.email
    assert envelope.sender_email is not None
    return envelope.sender_email


def recipient_email(recipient: Recipient) -> str:
    if recipient.user is not None:
        return recipient.user.email
    assert recipient.email is not None
    return recipient.email


def _sender_recipient(envelope: Envelope) -> Recipient | None:
    return next((r for r in envelope.recipients if r.is_sender), None)


def _add_sender_recipient(envelope: Envelope) -> None:
    _refuse_duplicate(envelope, sender_email(envelope), "/sender_signs_first")
    for recipient in envelope.recipients:
        recipient.position += 1
    sender = Recipient(
        id=uuid.uuid4(),
        tenant_id=envelope.tenant_id,
        position=1,
        is_sender=True,
        locale=envelope.locale,
    )
    envelope.recipients.insert(0, sender)
    _sync_sender_recipient(envelope)


def _sync_sender_recipient(envelope: Envelope) -> None:
    recipient = _sender_recipient(envelope)
    if recipient is None:
        return
    recipient.user = envelope.sender_user
    recipient.email = envelope.sender_email
    recipient.first_name = envelope.sender_first_name
    recipient.last_name = envelope.sender_last_name


def _set_sender_signs_first(envelope: Envelope, wanted: bool) -> None:
    present = _sender_recipient(envelope)
    envelope.sender_signs_first = wanted
    if wanted and present is None:
        _add_sender_recipient(envelope)
    elif not wanted and present is not None:
        envelope.recipients.remove(present)
        _renumber(envelope)


def _renumber(envelope: Envelope) -> None:
    for position, recipient in enumerate(envelope.recipients, start=1):
        recipient.position = position


def _refuse_duplicate(
    envelope: Envelope, email: str, pointer: str, *, ignore: Recipient | None = None
) -> None:
    for recipient in envelope.recipients:
        if recipient is not ignore and recipient_email(recipient).lower() == email.lower():
            raise ValidationFailed(
                "duplicate_recipient",
                f"{email} is already a recipient of this envelope",
                [FieldError(pointer, "already a recipient of this envelope")],
            )


# --- recipients -------------------------------------------------------------------------


async def add_recipient(
    session: AsyncSession, principal: Principal, envelope_id: uuid.UUID, data: RecipientCreate
) -> Recipient:
    envelope = await get_draft(session, principal, envelope_id)
    recipient = Recipient(
        id=uuid.uuid4(),
        tenant_id=principal.tenant_id,
        envelope_id=envelope.id,
        position=len(envelope.recipients) + 1,
        first_name=data.first_name,
        last_name=data.last_name,
        phone=data.phone,
        locale=data.locale or envelope.locale,
    )
    if data.user_id is not None:
        recipient.user = await _resolve_user(session, principal, data.user_id, "/user_id")
        _refuse_duplicate(envelope, recipient.user.email, "/user_id")
    else:
        assert data.email is not None
        _refuse_duplicate(envelope, data.email, "/email")
        recipient.email = data.email
    envelope.recipients.append(recipient)
    await session.flush()
    return recipient


async def update_recipient(
    session: AsyncSession,
    principal: Principal,
    envelope_id: uuid.UUID,
    recipient_id: uuid.UUID,
    data: RecipientUpdate,
) -> Recipient:
    envelope = await get_draft(session, principal, envelope_id)
    recipient = find_recipient(envelope, recipient_id)
    if recipient.is_sender and {"first_name", "last_name"} & data.model_fields_set:
        raise ValidationFailed.at(
            "/first_name", "the sender's names are changed through the envelope's sender"
        )
    if "locale" in data.model_fields_set and data.locale is None:
        raise ValidationFailed.at("/locale", "locale cannot be null")
    for name in data.model_fields_set:
        setattr(recipient, name, getattr(data, name))
    await session.flush()
    return recipient


async def delete_recipient(
    session: AsyncSession, principal: Principal, envelope_id: uuid.UUID, recipient_id: uuid.UUID
) -> None:
    envelope = await get_draft(session, principal, envelope_id)
    recipient = find_recipient(envelope, recipient_id)
    if recipient.is_sender:
        raise Conflict(
            "sender_recipient",
            "The sender signs first; set sender_signs_first to false to remove them.",
        )
    envelope.recipients.remove(recipient)
    _renumber(envelope)
    await session.flush()


async def reorder_recipients(
    session: AsyncSession, principal: Principal, envelope_id: uuid.UUID, data: RecipientOrder
) -> Envelope:
    envelope = await get_draft(session, principal, envelope_id)
    by_id = {r.id: r for r in envelope.recipients}
    wanted = data.recipient_ids
    if len(wanted) != len(set(wanted)) or set(wanted) != set(by_id):
        raise ValidationFailed.at(
            "/recipient_ids", "list every recipient of the envelope exactly once"
        )
    sender = _sender_recipient(envelope)
    if sender is not None and wanted[0] != sender.id:
        raise ValidationFailed.at(
            "/recipient_ids/0", "the sender signs first while sender_signs_first is true"
        )
    envelope.recipients.sort(key=lambda r: wanted.index(r.id))
    _renumber(envelope)
    await session.flush()
    return envelope


# --- stamps -----------------------------------------------------------------------------


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


# --- documents --------------------------------------------------------------------------


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
    _require_draft(status)
    return kind, Budget(int(used_bytes), limit_bytes)


async def record_document(
    session: AsyncSession,
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
    _require_draft(envelope.status)
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
    session: AsyncSession, principal: Principal, envelope_id: uuid.UUID, document_id: uuid.UUID
) -> Document:
    envelope = await get_draft(session, principal, envelope_id)
    document = find_document(envelope, document_id)
    envelope.documents.remove(document)
    await session.flush()
    return document
