"""The evidence log's vocabulary: every event type, and events as the API shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from app.schemas import ResponseBody


# Recording takes only these, so a misspelt name cannot reach the log, the webhooks or the
# evidence PDF; the webhook list and the OpenAPI enums are derived from this one.
class EventType(StrEnum):
    """Every kind of event an envelope's evidence log records."""

    envelope_created = "envelope.created"
    envelope_sent = "envelope.sent"
    envelope_completed = "envelope.completed"
    envelope_declined = "envelope.declined"
    envelope_canceled = "envelope.canceled"
    envelope_expired = "envelope.expired"
    envelope_failed = "envelope.failed"
    document_added = "document.added"
    document_deleted = "document.deleted"
    documents_archived = "documents.archived"
    documents_renewed = "documents.renewed"
    recipient_invited = "recipient.invited"
    recipient_opened = "recipient.opened"
    recipient_link_issued = "recipient.link_issued"
    recipient_reminded = "recipient.reminded"
    recipient_approved = "recipient.approved"
    recipient_consented = "recipient.consented"
    recipient_signed = "recipient.signed"
    recipient_signature_failed = "recipient.signature_failed"
    recipient_declined = "recipient.declined"
    recipient_otp_locked = "recipient.otp_locked"
    recipient_phone_unreachable = "recipient.phone_unreachable"
    recipient_identity_approved = "recipient.identity_approved"
    recipient_identity_failed = "recipient.identity_failed"
    recipient_corrected = "recipient.corrected"
    otp_sent = "otp.sent"
    otp_delivered = "otp.delivered"
    otp_undelivered = "otp.undelivered"
    otp_verified = "otp.verified"
    otp_failed = "otp.failed"
    otp_locked = "otp.locked"
    otp_unlocked = "otp.unlocked"
    identity_started = "identity.started"
    identity_approved = "identity.approved"
    identity_declined = "identity.declined"
    identity_expired = "identity.expired"
    credits_reserved = "credits.reserved"
    credits_consumed = "credits.consumed"
    credits_released = "credits.released"
    email_sent = "email.sent"
    email_failed = "email.failed"
    evidence_sealed = "evidence.sealed"


class EventOut(ResponseBody):
    id: int
    envelope_id: uuid.UUID
    sequence: int = Field(description="1, 2, 3… within the envelope")
    type: EventType
    occurred_at: datetime
    actor: dict[str, Any]
    ip: str | None
    user_agent: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str = Field(description="SHA-256(prev_hash ‖ canonical JSON of the event)")


class EnvelopeEvents(ResponseBody):
    data: list[EventOut]


class EventPage(ResponseBody):
    data: list[EventOut]
    next_cursor: str | None = Field(
        description="pass as `after` to continue; also returned when the page is empty"
    )
