from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class Event(Base):
    """One line of an envelope's evidence log. Rows are only ever inserted."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("envelope_id", "sequence"),
        # The tenant feed reads in (transaction id, id) order: see evidence.feed.
        Index("ix_events_tenant_feed", "tenant_id", "xact_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    envelope_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("envelopes.id", ondelete="CASCADE"))
    sequence: Mapped[int]
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    actor: Mapped[dict[str, Any]] = mapped_column(JSONB)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # HMAC of `hash` under a key derived from CACHET_SECRET_KEY: the chain stays checkable by
    # anyone, but a rewritten event (every later hash recomputed) needs the key to pass.
    mac: Mapped[str | None] = mapped_column(String(64))
    # The writing transaction's id: lets the feed skip rows whose transaction may still commit.
    xact_id: Mapped[int] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id()::text)::bigint")
    )


class EvidenceChain(Base):
    """The anchor of one envelope's chain, written in the same transaction as every append:
    a chain cut short or rewritten no longer matches its length and head, and the anchor's
    own HMAC (key derived from CACHET_SECRET_KEY) makes rewriting it too take the key."""

    __tablename__ = "evidence_chains"

    envelope_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("envelopes.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    length: Mapped[int]
    head: Mapped[str] = mapped_column(String(64))
    # NULL for an anchor backfilled from rows written before anchors existed (migration 0004).
    mac: Mapped[str | None] = mapped_column(String(64))
