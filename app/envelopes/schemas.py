"""Request and response bodies of the drafting API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, model_validator

from app.envelopes.models import (
    Delivery,
    EnvelopeKind,
    EnvelopeStatus,
    Level,
    Locale,
    RecipientStatus,
)
from app.envelopes.rules import BlockerCode, StampStyle
from app.schemas import (
    Email,
    ExternalId,
    Paragraphs,
    PersonName,
    Phone,
    RequestBody,
    ResponseBody,
    one_line,
)

EnvelopeName = Annotated[str, one_line(1, 200)]
Message = Paragraphs


class SenderIn(RequestBody):
    """Either a platform user (user_id) or a person given by email and names."""

    user_id: ExternalId | None = None
    email: Email | None = None
    first_name: PersonName | None = None
    last_name: PersonName | None = None

    @model_validator(mode="after")
    def _one_identity(self) -> SenderIn:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of user_id or email")
        if self.user_id is not None and (self.first_name or self.last_name):
            raise ValueError("names come from the user directory when user_id is given")
        return self


class Reminders(RequestBody):
    interval_days: int = Field(ge=1, le=30, description="days between two reminders")
    max_count: int = Field(ge=0, le=10, description="reminders sent at most")


class EnvelopeCreate(RequestBody):
    kind: EnvelopeKind
    name: EnvelopeName | None = None
    message: Message | None = None
    level: Level | None = Field(
        default=None, description="signature envelopes only; default simple"
    )
    sender: SenderIn
    sender_signs_first: bool = False
    distribute_to_signers: bool = False
    sender_copy: bool = False
    expires_at: AwareDatetime | None = Field(
        default=None, description="unset: 30 days after the envelope is sent"
    )
    reminders: Reminders | None = None
    locale: Locale = Locale.fr


def _not_null(schema: dict[str, Any]) -> None:
    """Document a PATCH field that may be left out but not set to null (refused with 422)."""
    choices = [c for c in schema.pop("anyOf", []) if c.get("type") != "null"]
    if len(choices) == 1:
        schema.update(choices[0])
    elif choices:
        schema["anyOf"] = choices
    schema.pop("default", None)


def _may_omit() -> Any:
    return Field(default=None, json_schema_extra=_not_null)


class EnvelopeUpdate(RequestBody):
    """Only the fields present are changed; null clears name, message, expires_at, reminders."""

    name: EnvelopeName | None = None
    message: Message | None = None
    level: Level | None = _may_omit()
    sender: SenderIn | None = _may_omit()
    sender_signs_first: bool | None = _may_omit()
    distribute_to_signers: bool | None = _may_omit()
    sender_copy: bool | None = _may_omit()
    expires_at: AwareDatetime | None = None
    reminders: Reminders | None = None
    locale: Locale | None = _may_omit()


class Person(ResponseBody):
    user_id: str | None
    email: str
    first_name: str | None
    last_name: str | None


class Size(ResponseBody):
    used_bytes: int
    limit_bytes: int


class PageOut(ResponseBody):
    width: float = Field(description="displayed width in points")
    height: float = Field(description="displayed height in points")
    rotation: int


class StampOut(ResponseBody):
    recipient_id: uuid.UUID
    page: int
    x: float
    y: float
    width: float
    height: float
    style: StampStyle
    text: str | None


class DocumentOut(ResponseBody):
    id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    sha256: str = Field(description="SHA-256 of the bytes as uploaded (version `original`)")
    current_sha256: str | None = Field(
        default=None,
        description="signature envelopes: the newest version (fields, then each signature)",
    )
    signed_sha256: str | None = Field(
        default=None,
        description="signature envelopes: the final, archive-timestamped version, once completed",
    )
    page_count: int | None
    pages: list[PageOut] | None
    stamps: Literal["pending", "complete"] | None = Field(
        description="signature envelopes: complete once every signer has a stamp here; "
        "null for approval envelopes"
    )
    stamp_placements: list[StampOut]
    created_at: datetime


class RecipientOut(ResponseBody):
    id: uuid.UUID
    position: int = Field(description="1-based place in the signing/approval order")
    role: Literal["signer", "approver"]
    is_sender: bool
    user_id: str | None
    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    locale: Locale
    delivery: Delivery = Field(
        description="email: Cachet emails the invitation and reminders; none: the platform "
        "gives the link itself (POST …/signing-link)"
    )
    status: RecipientStatus
    invited_at: datetime | None = None
    opened_at: datetime | None = None
    acted_at: datetime | None = Field(default=None, description="when they approved or declined")
    comment: str | None = Field(default=None, description="left with an approval")
    decline_reason: str | None = None
    reminder_count: int = 0


class BlockerOut(ResponseBody):
    code: BlockerCode
    detail: str
    pointer: str
    document_id: uuid.UUID | None = None
    recipient_id: uuid.UUID | None = None


class PendingProblem(ResponseBody):
    """Something the service is retrying through on its own, such as a timestamp server or an
    OCSP responder that does not answer: the envelope waits, nothing is lost."""

    code: str = Field(description="e.g. `signing_service_unavailable`")
    detail: str
    since: datetime = Field(description="when the problem was first met")


class EnvelopeOut(ResponseBody):
    id: uuid.UUID
    kind: EnvelopeKind
    status: EnvelopeStatus
    name: str | None
    message: str | None
    level: Level | None
    sender: Person
    sender_signs_first: bool
    distribute_to_signers: bool
    sender_copy: bool
    expires_at: datetime | None
    reminders: Reminders | None
    locale: Locale
    size: Size
    documents: list[DocumentOut]
    recipients: list[RecipientOut]
    ready_to_send: bool
    blockers: list[BlockerOut]
    sent_at: datetime | None = None
    ended_at: datetime | None = Field(
        default=None, description="when it was completed, declined, canceled, expired or failed"
    )
    cancel_reason: str | None = None
    failure_reason: str | None = Field(
        default=None,
        description="status `failed`: why the service could not do its part (a document "
        "that could not be signed, on every attempt)",
    )
    problem: PendingProblem | None = Field(
        default=None,
        description="in progress: a transient problem the service is retrying through",
    )
    created_at: datetime
    updated_at: datetime


class EnvelopePage(ResponseBody):
    data: list[EnvelopeOut]
    next_cursor: str | None = Field(description="pass as cursor to get the next page")
    has_more: bool


class RecipientCreate(RequestBody):
    """A platform user (user_id) or an external person (email, names)."""

    user_id: ExternalId | None = None
    email: Email | None = None
    first_name: PersonName | None = None
    last_name: PersonName | None = None
    phone: Phone | None = Field(default=None, description="E.164; required at eIDAS levels")
    locale: Locale | None = Field(default=None, description="default: the envelope's locale")
    delivery: Delivery = Field(
        default=Delivery.email,
        description="email (default): Cachet emails the invitation and reminders. none: no "
        "invitation or reminder email; the platform gets the link from POST "
        "/v1/envelopes/{id}/recipients/{rid}/signing-link and shows the signing page itself "
        "(completion emails still follow the envelope's settings)",
    )

    @model_validator(mode="after")
    def _one_identity(self) -> RecipientCreate:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of user_id or email")
        return self


class RecipientUpdate(RequestBody):
    """Only the fields present are changed; null clears a name or the phone."""

    first_name: PersonName | None = None
    last_name: PersonName | None = None
    phone: Phone | None = None
    locale: Locale | None = _may_omit()
    delivery: Delivery | None = _may_omit()


class RecipientOrder(RequestBody):
    recipient_ids: list[uuid.UUID] = Field(
        description="every recipient of the envelope, once, in the new order"
    )


StampText = Annotated[str, one_line(1, 1000)]


class StampPut(RequestBody):
    page: int = Field(description="1-based page number")
    x: float = Field(description="points from the left edge of the page as displayed")
    y: float = Field(description="points from the top edge of the page as displayed")
    width: float
    height: float
    style: StampStyle = StampStyle.plain
    text: StampText | None = None
