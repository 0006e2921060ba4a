"""Bodies of the webhook endpoints API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from app.evidence.schemas import EventType
from app.schemas import NO_CONTROL_CHARACTERS, RequestBody, ResponseBody

# What a webhook endpoint can subscribe to; the evidence log records more than this (drafting
# steps, emails sent, archiving and sealing).
WEBHOOK_EVENTS: tuple[EventType, ...] = (
    EventType.envelope_sent,
    EventType.envelope_completed,
    EventType.envelope_declined,
    EventType.envelope_canceled,
    EventType.envelope_expired,
    EventType.envelope_failed,
    EventType.recipient_invited,
    EventType.recipient_opened,
    EventType.recipient_approved,
    EventType.recipient_signed,
    EventType.recipient_signature_failed,
    EventType.recipient_declined,
    EventType.recipient_reminded,
    EventType.recipient_otp_locked,
    EventType.recipient_phone_unreachable,
    EventType.recipient_identity_approved,
    EventType.recipient_identity_failed,
    EventType.recipient_corrected,
    EventType.email_failed,
)


def _sent_to_webhooks(event_type: EventType) -> EventType:
    if event_type not in WEBHOOK_EVENTS:
        raise ValueError(
            f"{event_type.value} is recorded in the evidence log, not sent to webhooks"
        )
    return event_type


WebhookEventType = Annotated[
    EventType,
    AfterValidator(_sent_to_webhooks),
    WithJsonSchema({"type": "string", "enum": [event.value for event in WEBHOOK_EVENTS]}),
]
Url = Annotated[
    str, StringConstraints(min_length=1, max_length=2000, pattern=NO_CONTROL_CHARACTERS)
]
Description = Annotated[str, StringConstraints(max_length=500, pattern=NO_CONTROL_CHARACTERS)]


class EndpointCreate(RequestBody):
    url: Url = Field(description="https only in production; must resolve to public addresses")
    description: Description | None = None
    event_types: list[WebhookEventType] = Field(
        default_factory=list, max_length=20, description="empty: every event type"
    )


class EndpointUpdate(RequestBody):
    url: Url | None = None
    description: Description | None = None
    event_types: list[WebhookEventType] | None = Field(default=None, max_length=20)
    enabled: bool | None = Field(default=None, description="true re-enables a disabled endpoint")


class EndpointOut(ResponseBody):
    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointOut):
    secret: str = Field(
        description="whsec_…: verifies webhook-signature. Shown only in this response."
    )


class EndpointList(ResponseBody):
    data: list[EndpointOut]


class DeliveryOut(ResponseBody):
    id: int
    message_id: str = Field(description="the webhook-id header: the same on every retry")
    event_type: str
    event_id: int | None
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None = Field(description="when pending: the next attempt")
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime


class DeliveryPage(ResponseBody):
    data: list[DeliveryOut]
    next_before: int | None = Field(description="pass as `before` for older deliveries")
