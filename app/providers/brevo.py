"""Brevo transactional SMS: JSON POST with the `api-key` header, answered with a messageId.
Brevo does not sign its delivery events: the status URL we give it carries a secret token
(or Brevo's webhook auth sends it as a bearer token), compared in constant time."""

from __future__ import annotations

import hmac
import json
from urllib.parse import parse_qs, urlsplit

import httpx

from app.providers.http import json_or_empty, provider_client
from app.providers.sms import (
    BadCallback,
    CallbackRequest,
    Delivery,
    DeliveryReport,
    OutgoingSms,
    SentSms,
    SmsRefused,
    SmsUnavailable,
)

DEFAULT_BASE_URL = "https://api.brevo.com"
# Brevo's words for a message that will not be delivered, or was.
UNDELIVERED = frozenset({"hard_bounce", "soft_bounce", "blocked", "rejected", "error"})
DELIVERED = frozenset({"delivered"})
# How Brevo says the number itself is wrong.
REFUSED_HINTS = ("recipient", "phone", "number", "mobile")


class BrevoSms:
    name = "brevo"

    def __init__(
        self,
        *,
        api_key: str,
        sender: str,
        callback_token: str,
        base_url: str | None,
        timeout: float,
    ) -> None:
        self._url = f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}/v3/transactionalSMS/send"
        self._sender = sender
        self.callback_token = callback_token
        self._client = provider_client(timeout=timeout)
        self._client.headers["api-key"] = api_key

    async def send(self, sms: OutgoingSms) -> SentSms:
        body: dict[str, object] = {
            "sender": self._sender,
            "recipient": sms.to.removeprefix("+"),  # Brevo wants the digits, country code first
            "content": sms.text,
            "type": "transactional",
            "tag": sms.reference,
        }
        if sms.status_url:
            body["webUrl"] = sms.status_url
        try:
            response = await self._client.post(self._url, json=body)
        except httpx.HTTPError as error:
            raise SmsUnavailable(f"Brevo did not answer: {type(error).__name__}") from error
        answer = json_or_empty(response)
        message_id = answer.get("messageId")
        if response.is_success and message_id is not None:
            return SentSms(self.name, str(message_id))
        raise _failure(response.status_code, answer)

    def status_url(self, endpoint: str) -> str | None:
        return f"{endpoint}?token={self.callback_token}"  # Brevo signs nothing: a secret URL

    def delivery_reports(self, request: CallbackRequest) -> list[DeliveryReport]:
        if not hmac.compare_digest(_token_of(request), self.callback_token):
            raise BadCallback("the Brevo callback token does not match")
        try:
            event = json.loads(request.body)
        except ValueError:
            raise BadCallback("not JSON") from None
        events = event if isinstance(event, list) else [event]
        return [_report(e) for e in events if isinstance(e, dict) and "messageId" in e]

    async def aclose(self) -> None:
        await self._client.aclose()


def _token_of(request: CallbackRequest) -> str:
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return (parse_qs(urlsplit(request.url).query).get("token") or [""])[0]


def _report(event: dict[str, object]) -> DeliveryReport:
    status = str(event.get("msg_status") or event.get("event") or "")
    delivery = (
        Delivery.delivered
        if status in DELIVERED
        else Delivery.undelivered
        if status in UNDELIVERED
        else Delivery.pending
    )
    return DeliveryReport(
        message_id=str(event["messageId"]),
        delivery=delivery,
        status=status,
        error_code=str(event["reason"]) if event.get("reason") else None,
    )


def _failure(status: int, body: dict[str, object]) -> SmsRefused | SmsUnavailable:
    message = str(body.get("message") or f"HTTP {status}")
    if status == 400 and any(hint in message.lower() for hint in REFUSED_HINTS):
        return SmsRefused(f"Brevo: {message}")
    return SmsUnavailable(f"Brevo answered {status} ({body.get('code')}): {message}")
