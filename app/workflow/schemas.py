"""Bodies of the workflow API: preview, send, cancel, events, and the recipient side."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from app.envelopes.models import EnvelopeKind, EnvelopeStatus, Level, RecipientStatus
from app.schemas import NO_CONTROL_BUT_WHITESPACE, RequestBody, ResponseBody

Reason = Annotated[
    str, StringConstraints(min_length=1, max_length=2000, pattern=NO_CONTROL_BUT_WHITESPACE)
]
Role = Literal["signer", "approver"]


class SummaryLine(ResponseBody):
    position: int
    recipient_id: uuid.UUID
    name: str | None
    email: str
    role: Role
    is_sender: bool


class EmailPreview(ResponseBody):
    to: str
    subject: str
    html: str
    text: str


class PreviewOut(ResponseBody):
    recipients: list[SummaryLine] = Field(description="in the order they will act")
    invitation: EmailPreview | None = Field(
        description="the first recipient's invitation, exactly as it will be sent; null when "
        "their delivery is `none` (the platform gives them the link)"
    )


class CancelIn(RequestBody):
    reason: Reason | None = None


class RemindOut(ResponseBody):
    recipient_id: uuid.UUID = Field(description="who was reminded: the recipient whose turn it is")
    reminder_count: int


class SigningLinkOut(ResponseBody):
    url: str = Field(
        description="the recipient's signing page (CACHET_SIGNING_URL with their token): a "
        "credential, to show to this recipient only, in a browser window or an iframe of an "
        "origin listed in CACHET_FRAME_ANCESTORS"
    )
    expires_at: datetime | None = Field(
        description="the link works until the envelope expires (or ends sooner)"
    )


# --- recipient side -----------------------------------------------------------------------


class SessionIn(RequestBody):
    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class SessionOut(ResponseBody):
    session_token: str = Field(description="send as 'Authorization: Bearer …' to /v1/signing")
    expires_at: datetime = Field(
        description="idle deadline (every request pushes it back), never later than "
        "CACHET_SESSION_MAX_SECONDS after the session was opened; a canceled, declined, "
        "expired or failed envelope ends its sessions at once (410 `envelope_ended`)"
    )
    envelope_id: uuid.UUID
    recipient_id: uuid.UUID


class SigningPage(ResponseBody):
    width: float = Field(description="displayed width in points")
    height: float = Field(description="displayed height in points")


class SigningStamp(ResponseBody):
    """Where a signer's signature goes: points from the top-left of the page as displayed."""

    position: int = Field(description="the signer's place in the order")
    is_me: bool
    page: int
    x: float
    y: float
    width: float
    height: float


class SigningDocument(ResponseBody):
    id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    page_count: int | None
    pages: list[SigningPage] = Field(
        default_factory=list, description="PDFs: each page's displayed size, in order"
    )
    stamps: list[SigningStamp] = Field(
        default_factory=list, description="signature envelopes: every signer's stamp box"
    )


class SigningParticipant(ResponseBody):
    position: int
    name: str | None
    role: Role
    status: RecipientStatus
    is_me: bool


class CeremonyStep(ResponseBody):
    step: Literal["email", "sms", "identity", "sign"] = Field(
        description="email: the link (done by opening it); sms: the one-time code; identity: "
        "the identity check; sign: signing, or approving"
    )
    status: Literal["done", "pending", "blocked"] = Field(
        description="pending: the one to do now; blocked: not yet (or not possible: a locked "
        "code entry, an unreachable phone)"
    )


class SigningMe(ResponseBody):
    recipient_id: uuid.UUID
    position: int
    role: Role
    status: RecipientStatus
    actions: list[Literal["approve", "sign", "decline"]] = Field(
        description="what this recipient may do now; empty when it is not their turn"
    )
    signature: Literal["pending", "applied"] | None = Field(
        default=None,
        description="signers only: `pending` from POST /sign until the job has signed every "
        "document, then `applied` (the status becomes `signed` at the same moment)",
    )
    consent_text: str | None = Field(
        default=None,
        description="signers only: the statement to show beside the consent box; POST /sign "
        "records exactly this text",
    )
    steps: list[CeremonyStep] = Field(
        description="what this recipient does, in order, and where they are"
    )
    phone_hint: str | None = Field(
        default=None,
        description="eIDAS levels: the number the SMS code goes to, masked (+33 6 •• •• •• 78)",
    )


class SigningEnvelopeOut(ResponseBody):
    id: uuid.UUID
    kind: EnvelopeKind
    status: EnvelopeStatus
    level: Level | None
    name: str | None
    message: str | None
    sender_name: str
    expires_at: datetime | None
    me: SigningMe
    recipients: list[SigningParticipant]
    documents: list[SigningDocument]


class ApproveIn(RequestBody):
    comment: Reason | None = None


class DeclineIn(RequestBody):
    reason: Reason


class SignIn(RequestBody):
    consent: bool = Field(
        description="must be true: the signer ticked the box showing `me.consent_text`"
    )
    signature_image: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="the handwritten (or drawn) signature as a PNG, base64-encoded; a data URL "
        "(`data:image/png;base64,...`, what canvas.toDataURL() gives) is accepted too. At most "
        "`CACHET_SIGNATURE_IMAGE_MAX_BYTES` decoded bytes and 2000x2000 pixels."
    )


class OtpSent(ResponseBody):
    expires_at: datetime = Field(description="the code works until then (5 minutes)")
    resend_after_seconds: int = Field(description="a new code can be asked for after this")
    phone_hint: str = Field(description="where it went, masked")
    status: Literal["sent", "queued"] = Field(
        description="sent: the SMS provider took it; queued: it is being retried"
    )


class OtpVerifyIn(RequestBody):
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] = Field(
        description="the 6 digits received by SMS"
    )


class OtpVerified(ResponseBody):
    verified: bool


class IdentityOut(ResponseBody):
    """The signer's identity check (eIDAS advanced)."""

    status: Literal["not_started", "pending", "review", "approved", "declined", "expired"] = Field(
        description="pending: follow verification_url; review: the provider's staff decide, "
        "wait; approved: you may sign; declined or expired: start another check while "
        "attempts_left > 0, except for reason identity_mismatch (the sender corrects your name)"
    )
    reason: str | None = Field(
        default=None,
        description="declined or expired: why. identity_mismatch: the document's names are not "
        "the recipient's; otherwise the provider's reason",
    )
    attempts_left: int = Field(description="identity checks this signer may still start")
    verification_url: str | None = Field(
        default=None, description="pending or review: the provider's page the signer follows"
    )
    provider: str | None = Field(default=None, description="dev, veriff or onfido")
