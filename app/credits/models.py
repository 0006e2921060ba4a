from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.envelopes.models import Level


class CreditKind(StrEnum):
    grant = "grant"  # credits given to the tenant (cachet credits grant)
    reservation = "reservation"  # one per signer of an eIDAS envelope, at send
    consumption = "consumption"  # that signer signed: the reservation is spent
    release = "release"  # the envelope ended before that signer signed: it comes back


class CreditEntry(Base):
    """One line of a tenant's credit ledger. Rows are only ever inserted; balances are sums."""

    __tablename__ = "credit_entries"
    __table_args__ = (Index("ix_credit_entries_tenant_level", "tenant_id", "level", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    level: Mapped[Level] = mapped_column(
        Enum(Level, name="credit_level", native_enum=False, length=32, validate_strings=True)
    )
    kind: Mapped[CreditKind] = mapped_column(
        Enum(CreditKind, name="credit_kind", native_enum=False, length=16, validate_strings=True)
    )
    amount: Mapped[int]
    envelope_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("envelopes.id", ondelete="CASCADE"), index=True
    )
    recipient_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("recipients.id", ondelete="CASCADE")
    )
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
