from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class RecipientSession(Base):
    """A short-lived session a recipient obtained by presenting their link token."""

    __tablename__ = "recipient_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recipients.id", ondelete="CASCADE"), index=True
    )
    # SHA-256 of the bearer secret handed to the recipient's browser.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_seen_at: Mapped[datetime]


class SignatureRequestStatus(StrEnum):
    pending = "pending"
    """Consent and image are recorded; the signing job has not applied the signature yet."""
    applied = "applied"
    abandoned = "abandoned"
    """The envelope ended (canceled, expired) before the job ran."""


class SignatureRequest(Base):
    """A signer's consent and handwritten image, kept until (and after) the job signs with them.

    One per recipient: the unique constraint is what makes a second POST /sign a conflict even
    when two arrive at once.
    """

    __tablename__ = "signature_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    envelope_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("envelopes.id", ondelete="CASCADE"), index=True
    )
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recipients.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[SignatureRequestStatus] = mapped_column(
        Enum(SignatureRequestStatus, name="signature_request_status", native_enum=False, length=16)
    )
    consent_text: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(32))
    image_sha256: Mapped[str] = mapped_column(String(64))
    image_width: Mapped[int]
    image_height: Mapped[int]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime]
    applied_at: Mapped[datetime | None]


class OtpState(StrEnum):
    queued = "queued"  # written with its send job; not yet taken by the provider
    sent = "sent"  # the provider took it
    refused = "refused"  # the provider will never deliver to this number
    replaced = "replaced"  # a newer code was asked for: this one is dead
    used = "used"  # accepted once: never again


class Delivery(StrEnum):
    pending = "pending"
    delivered = "delivered"
    undelivered = "undelivered"


class OtpCode(Base):
    """One one-time code sent to a signer. The code itself is never stored: only an HMAC of
    it (key derived from CACHET_SECRET_KEY, bound to this row's id)."""

    __tablename__ = "otp_codes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    envelope_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("envelopes.id", ondelete="CASCADE"))
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recipients.id", ondelete="CASCADE"), index=True
    )
    # The session that asked for it; the one that entered it right, and when.
    session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("recipient_sessions.id", ondelete="SET NULL")
    )
    code_mac: Mapped[str] = mapped_column(String(64))
    phone_hint: Mapped[str] = mapped_column(String(40))
    state: Mapped[OtpState] = mapped_column(
        Enum(OtpState, name="otp_state", native_enum=False, length=16, validate_strings=True)
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    tries_used: Mapped[int] = mapped_column(default=0)
    provider: Mapped[str | None] = mapped_column(String(16))
    provider_message_id: Mapped[str | None] = mapped_column(String(128), index=True)
    delivery: Mapped[Delivery | None] = mapped_column(
        Enum(Delivery, name="otp_delivery", native_enum=False, length=16, validate_strings=True)
    )
    verified_at: Mapped[datetime | None]
    verified_session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("recipient_sessions.id", ondelete="SET NULL")
    )


class IdentityState(StrEnum):
    starting = "starting"  # the attempt is reserved; the provider's session is being created
    pending = "pending"
    review = "review"
    approved = "approved"
    declined = "declined"
    expired = "expired"


FINAL_IDENTITY_STATES = frozenset(
    {IdentityState.approved, IdentityState.declined, IdentityState.expired}
)


class IdentityVerification(Base):
    """One identity-verification session of a signer at the provider (eIDAS advanced). Only
    what the evidence needs is kept: names, document type, issuing country; never document
    images or numbers. A correction of the recipient's name supersedes the rows before it."""

    __tablename__ = "identity_verifications"
    __table_args__ = (UniqueConstraint("provider", "provider_session_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    envelope_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("envelopes.id", ondelete="CASCADE"))
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recipients.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(16))
    provider_session_id: Mapped[str | None] = mapped_column(String(128))
    verification_url: Mapped[str | None] = mapped_column(Text)
    state: Mapped[IdentityState] = mapped_column(
        Enum(
            IdentityState,
            name="identity_state",
            native_enum=False,
            length=16,
            validate_strings=True,
        )
    )
    vendor_status: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(200))
    declared_first_name: Mapped[str | None] = mapped_column(String(100))
    declared_last_name: Mapped[str | None] = mapped_column(String(100))
    verified_first_name: Mapped[str | None] = mapped_column(String(200))
    verified_last_name: Mapped[str | None] = mapped_column(String(200))
    document_type: Mapped[str | None] = mapped_column(String(64))
    issuing_country: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[datetime]
    checked_at: Mapped[datetime]  # when the provider was last asked (polling)
    decided_at: Mapped[datetime | None]
    superseded_at: Mapped[datetime | None]
