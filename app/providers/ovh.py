"""OVHcloud SMS: every call signed the OVH way, over the exact URL and body sent.

    X-Ovh-Signature = "$1$" + sha1_hex(AS+"+"+CK+"+"+METHOD+"+"+URL+"+"+BODY+"+"+TS)

with TS the server's clock (GET /auth/time, once; the offset is kept). An invalid number is
not an HTTP error: the job answers 200 with it in `invalidReceivers`. OVH posts no delivery
reports this service can verify, so it takes none.
"""

from __future__ import annotations

import hashlib
import json
import time

import httpx

from app.providers.http import json_or_empty, provider_client
from app.providers.sms import (
    BadCallback,
    CallbackRequest,
    DeliveryReport,
    OutgoingSms,
    SentSms,
    SmsRefused,
    SmsUnavailable,
)

DEFAULT_BASE_URL = "https://eu.api.ovh.com/1.0"


def ovh_signature(
    secret: str, consumer_key: str, method: str, url: str, body: str, timestamp: int
) -> str:
    parts = (secret, consumer_key, method, url, body, str(timestamp))
    return "$1$" + hashlib.sha1("+".join(parts).encode()).hexdigest()


class OvhSms:
    name = "ovh"

    def __init__(
        self,
        *,
        application_key: str,
        application_secret: str,
        consumer_key: str,
        service_name: str,
        sender: str | None,
        base_url: str | None,
        timeout: float,
    ) -> None:
        self._base = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._application_key = application_key
        self._secret = application_secret
        self._consumer_key = consumer_key
        self._service_name = service_name
        self._sender = sender
        self._time_delta: int | None = None
        self._client = provider_client(timeout=timeout)

    async def send(self, sms: OutgoingSms) -> SentSms:
        url = f"{self._base}/sms/{self._service_name}/jobs"
        job: dict[str, object] = {
            "message": sms.text,
            "receivers": [sms.to],
            "noStopClause": True,  # a one-time code is not marketing
            "priority": "high",
            "tag": sms.reference,
        }
        job.update({"sender": self._sender} if self._sender else {"senderForResponse": True})
        body = json.dumps(job, separators=(",", ":"))
        try:
            response = await self._client.post(
                url, content=body, headers=await self._signed("POST", url, body)
            )
        except httpx.HTTPError as error:
            raise SmsUnavailable(f"OVHcloud did not answer: {type(error).__name__}") from error
        return self._sent(response, sms.to)

    def _sent(self, response: httpx.Response, to: str) -> SentSms:
        answer = json_or_empty(response)
        if not response.is_success:
            raise SmsUnavailable(
                f"OVHcloud answered {response.status_code} ({answer.get('errorCode')}): "
                f"{answer.get('message')}"
            )
        invalid = answer.get("invalidReceivers")
        if isinstance(invalid, list) and to in invalid:
            raise SmsRefused(f"OVHcloud refused the number {to}")
        ids = answer.get("ids")
        if not isinstance(ids, list) or not ids:
            raise SmsUnavailable("OVHcloud accepted the job but returned no message id")
        return SentSms(self.name, str(ids[0]))

    async def _signed(self, method: str, url: str, body: str) -> dict[str, str]:
        timestamp = int(time.time()) + await self._server_time_delta()
        return {
            "Content-Type": "application/json",
            "X-Ovh-Application": self._application_key,
            "X-Ovh-Consumer": self._consumer_key,
            "X-Ovh-Timestamp": str(timestamp),
            "X-Ovh-Signature": ovh_signature(
                self._secret, self._consumer_key, method, url, body, timestamp
            ),
        }

    async def _server_time_delta(self) -> int:
        """OVH refuses a skewed timestamp: sign with its clock, asked once."""
        if self._time_delta is None:
            try:
                response = await self._client.get(f"{self._base}/auth/time")
                response.raise_for_status()
                self._time_delta = int(response.text.strip()) - int(time.time())
            except (httpx.HTTPError, ValueError) as error:
                raise SmsUnavailable(f"OVHcloud's clock could not be read: {error}") from error
        return self._time_delta

    def status_url(self, endpoint: str) -> str | None:
        return None

    def delivery_reports(self, request: CallbackRequest) -> list[DeliveryReport]:
        raise BadCallback("OVHcloud delivery reports are not taken: they cannot be verified")

    async def aclose(self) -> None:
        await self._client.aclose()
