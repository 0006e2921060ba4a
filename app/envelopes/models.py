from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Enum,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base
from app.envelopes.rules import StampStyle
from app.tenants.models import User


class EnvelopeKind(StrEnum):
    signature = "signature"
    approval = "approval"


class EnvelopeStatus(StrEnum):
    draft = "draft"
    in_progress = "in_progress"
    completed = "completed"
    declined = "declined"
    canceled = "canceled"
    expired = "expired"
    failed = "failed"


class Level(StrEnum):
    simple = "simple"
    eidas_simple = "eidas_simple"
    eidas_advanced = "eidas_advanced"


class Locale(StrEnum):
    fr = "fr"
    en = "en"


class Delivery(StrEnum):
    """How a recipient gets their link: by Cachet's emails, or from the platform itself
    (embedded signing: POST …/signing-link), with no invitation or reminder email."""

    email = "email"
    none = "none"


class RecipientStatus(StrEnum):
    waiting = "waiting"
    invited = "invited"
    opened = "opened"
    approved = "approved"
    signed = "signed"
    declined = "declined"
    skipped = "skipped"


def _enum(cls: type[StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=32, validate_strings=True)


class Envelope(Base):
    __tablename__ = "envelopes"
    # Serves the tenant's newest-first keyset pagination.
    __table_args__ = (
        Index("ix_envelopes_tenant_created", "tenant_id", "created_at", "id"),
        # The sweep looks for envelopes in progress whose expiry has passed.
        Index("ix_envelopes_status_expires", "status", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[EnvelopeKind] = mapped_column(_enum(EnvelopeKind, "envelope_kind"))
    status: Mapped[EnvelopeStatus] = mapped_column(
        _enum(EnvelopeStatus, "envelope_status"), default=EnvelopeStatus.draft
    )
    name: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)
    level: Mapped[Level | None] = mapped_column(_enum(Level, "signature_level"))
    sender_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )
    sender_email: Mapped[str | None] = mapped_column(String(320))
    sender_first_name: Mapped[str | None] = mapped_column(String(100))
    sender_last_name: Mapped[str | None] = mapped_column(String(100))
    sender_signs_first: Mapped[bool] = mapped_column(default=False)
    distribute_to_signers: Mapped[bool] = mapped_column(default=False)
    sender_copy: Mapped[bool] = mapped_column(default=False)
    expires_at: Mapped[datetime | None]
    reminder_interval_days: Mapped[int | None]
    reminder_max_count: Mapped[int | None]
    locale: Mapped[Locale] = mapped_column(_enum(Locale, "locale"), default=Locale.fr)
    sent_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    # The sealed evidence PDF, made when a signature envelope completes (and replaced by a
    # longer version each time its archive timestamp is renewed, before this date).
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    evidence_archive_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    # Why a `failed` envelope failed (a job that could not do its work, document-caused).
    failure_reason: Mapped[str | None] = mapped_column(Text)
    # A transient trouble a job is retrying through (a TSA or OCSP responder down), shown to
    # the sender until it clears: {"code", "detail", "since"}.
    pending_problem: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    last_manual_reminder_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    sender_user: Mapped[User | None] = relationship(lazy="raise")
    documents: Mapped[list[Document]] = relationship(
        lazy="raise",
        order_by="Document.created_at",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    recipients: Mapped[list[Recipient]] = relationship(
        lazy="raise",
        order_by="Recipient.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    envelope_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("envelopes.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    """The bytes as uploaded; every later version starts with exactly these bytes."""
    current_sha256: Mapped[str | None] = mapped_column(String(64))
    """The newest version (signature fields, then each signature); None until sent."""
    signed_sha256: Mapped[str | None] = mapped_column(String(64))
    """The final version with its archive timestamp (PAdES B-LTA), once the envelope completes;
    each renewal of the archive timestamp replaces it with a longer version."""
    archive_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    """When the signed version's newest archive timestamp stops proving anything (the first
    expiry in its TSA's certificate chain): it is renewed before then."""
    page_count: Mapped[int | None]
    # [{"width", "height", "rotation", "crop_box"}], displayed size in points, one per page
    pages: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())

    stamps: Mapped[list[Stamp]] = relationship(
        lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )


class Recipient(Base):
    __tablename__ = "recipients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    envelope_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("envelopes.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    is_sender: Mapped[bool] = mapped_column(default=False)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    email: Mapped[str | None] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    locale: Mapped[Locale] = mapped_column(_enum(Locale, "locale"), default=Locale.fr)
    delivery: Mapped[Delivery] = mapped_column(
        _enum(Delivery, "delivery"), default=Delivery.email, server_default=Delivery.email.value
    )
    status: Mapped[RecipientStatus] = mapped_column(
        _enum(RecipientStatus, "recipient_status"), default=RecipientStatus.waiting
    )
    # SHA-256 of the link token; the token itself is derived from the secret key, never stored.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invited_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    acted_at: Mapped[datetime | None]
    comment: Mapped[str | None] = mapped_column(Text)
    decline_reason: Mapped[str | None] = mapped_column(Text)
    reminder_count: Mapped[int] = mapped_column(default=0)
    last_reminded_at: Mapped[datetime | None]
    next_reminder_at: Mapped[datetime | None] = mapped_column(index=True)
    # eIDAS levels: wrong one-time codes in a row, and the lock they lead to (the sender lifts
    # it by reminding, which re-invites); a number the SMS provider will never reach.
    otp_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    otp_locked_at: Mapped[datetime | None]
    phone_unreachable_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    user: Mapped[User | None] = relationship(lazy="raise")


class Stamp(Base):
    """Where one signer's visible signature goes on one document: top-left display coordinates."""

    __tablename__ = "stamps"
    __table_args__ = (UniqueConstraint("document_id", "recipient_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recipients.id", ondelete="CASCADE"), index=True
    )
    page: Mapped[int]
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    width: Mapped[float] = mapped_column(Float)
    height: Mapped[float] = mapped_column(Float)
    style: Mapped[StampStyle] = mapped_column(_enum(StampStyle, "stamp_style"))
    text: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
