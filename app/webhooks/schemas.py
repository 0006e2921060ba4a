"""Bodies of the webhook endpoints API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from app.schemas import NO_CONTROL_CHARACTERS, RequestBody, ResponseBody

EventType = Literal[
    "envelope.sent",
    "envelope.completed",
    "envelope.declined",
    "envelope.canceled",
    "envelope.expired",
    "recipient.invited",
    "recipient.opened",
    "recipient.approved",
    "recipient.signed",
    "recipient.signature_failed",
    "recipient.declined",
    "recipient.reminded",
    "email.failed",
]
Url = Annotated[
    str, StringConstraints(min_length=1, max_length=2000, pattern=NO_CONTROL_CHARACTERS)
]
Description = Annotated[str, StringConstraints(max_length=500, pattern=NO_CONTROL_CHARACTERS)]


class EndpointCreate(RequestBody):
    url: Url = Field(description="https only in production; must resolve to public addresses")
    description: Description | None = None
    event_types: list[EventType] = Field(
        default_factory=list, max_length=20, description="empty: every event type"
    )


class EndpointUpdate(RequestBody):
    url: Url | None = None
    description: Description | None = None
    event_types: list[EventType] | None = Field(default=None, max_length=20)
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
