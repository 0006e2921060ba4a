"""Twilio Programmable Messaging: form-encoded POST with HTTP Basic (account SID and auth
token); delivery reports signed with X-Twilio-Signature (base64 HMAC-SHA1 of the callback URL
followed by every form parameter, name then value, sorted by name)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl

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

DEFAULT_BASE_URL = "https://api.twilio.com"
# Twilio error codes that say this number will never receive the message.
UNREACHABLE_CODES = frozenset({21211, 21214, 21408, 21610, 21612, 21614})
STATUSES = {
    "delivered": Delivery.delivered,
    "undelivered": Delivery.undelivered,
    "failed": Delivery.undelivered,
}


class TwilioSms:
    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        sender: str | None,
        messaging_service_sid: str | None,
        base_url: str | None,
        timeout: float,
    ) -> None:
        self._auth_token = auth_token
        if messaging_service_sid:
            self._origin = {"MessagingServiceSid": messaging_service_sid}
        elif sender:
            self._origin = {"From": sender}
        else:
            raise ValueError("Twilio needs a sender or a messaging service")
        self._url = (
            f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}"
            f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        )
        self._client = provider_client(
            timeout=timeout, auth=httpx.BasicAuth(account_sid, auth_token)
        )

    async def send(self, sms: OutgoingSms) -> SentSms:
        form = {"To": sms.to, "Body": sms.text, **self._origin}
        if sms.status_url:
            form["StatusCallback"] = sms.status_url
        try:
            response = await self._client.post(self._url, data=form)
        except httpx.HTTPError as error:
            raise SmsUnavailable(f"Twilio did not answer: {type(error).__name__}") from error
        body = json_or_empty(response)
        if response.is_success and isinstance(body.get("sid"), str):
            return SentSms(self.name, str(body["sid"]))
        raise _failure(response.status_code, body)

    def status_url(self, endpoint: str) -> str | None:
        return endpoint  # Twilio signs every report over this very URL

    def delivery_reports(self, request: CallbackRequest) -> list[DeliveryReport]:
        params = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        expected = twilio_signature(self._auth_token, request.url, params)
        given = request.headers.get("x-twilio-signature", "")
        if not hmac.compare_digest(expected, given):
            raise BadCallback("X-Twilio-Signature does not match")
        if "MessageSid" not in params or "MessageStatus" not in params:
            raise BadCallback("not a message status callback")
        status = params["MessageStatus"]
        return [
            DeliveryReport(
                message_id=params["MessageSid"],
                delivery=STATUSES.get(status, Delivery.pending),
                status=status,
                error_code=params.get("ErrorCode") or None,
            )
        ]

    async def aclose(self) -> None:
        await self._client.aclose()


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    payload = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _failure(status: int, body: dict[str, object]) -> SmsRefused | SmsUnavailable:
    code = body.get("code")
    message = str(body.get("message") or f"HTTP {status}")
    if isinstance(code, int) and code in UNREACHABLE_CODES:
        return SmsRefused(f"Twilio {code}: {message}")
    return SmsUnavailable(f"Twilio answered {status} ({code}): {message}")
