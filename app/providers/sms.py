"""Sending a text message, whoever carries it.

The service makes and checks the one-time codes; a provider only carries the text and, when
it can, reports delivery back. Each adapter (dev_sms.py, brevo.py, twilio.py, ovh.py) turns its
vendor's answers into these few outcomes:

    SentSms          the vendor took the message; its id comes back in delivery reports
    SmsRefused       never for this number (invalid, unroutable, not a mobile, opted out)
    SmsUnavailable   not now (rate limited, 5xx, timeout, connection): try again later
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class OutgoingSms:
    to: str  # E.164, e.g. +33612345678
    text: str
    reference: str  # ours (the code's id): kept with the message where the vendor allows it
    status_url: str | None  # where the vendor may post delivery reports


@dataclass(frozen=True)
class SentSms:
    provider: str
    message_id: str


class SmsRefused(Exception):
    """The vendor will never deliver to this number."""


class SmsUnavailable(Exception):
    """The vendor could not take the message now; the same request may succeed later."""


# How /metrics names a failed call (anything else is an "error").
SMS_OUTCOMES: dict[type[Exception], str] = {SmsRefused: "refused", SmsUnavailable: "unavailable"}


class Delivery(StrEnum):
    delivered = "delivered"
    undelivered = "undelivered"
    pending = "pending"  # an intermediate status (queued, sent, accepted…)


@dataclass(frozen=True)
class DeliveryReport:
    message_id: str
    delivery: Delivery
    status: str  # the vendor's own word
    error_code: str | None = None


@dataclass(frozen=True)
class CallbackRequest:
    url: str  # as the vendor called it, scheme to query
    headers: Mapping[str, str]  # lower-case names
    body: bytes


class BadCallback(Exception):
    """A delivery report that is not signed by the vendor, or not one at all."""


class SmsProvider(Protocol):
    name: str

    async def send(self, sms: OutgoingSms) -> SentSms: ...

    def status_url(self, endpoint: str) -> str | None:
        """What to give the vendor as the delivery reports' address, built on the service's
        endpoint for them; None when this provider reports nothing this service can verify."""
        ...

    def delivery_reports(self, request: CallbackRequest) -> list[DeliveryReport]:
        """Verify a callback and read what it reports; raises BadCallback."""
        ...

    async def aclose(self) -> None: ...
