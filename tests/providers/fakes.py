"""SMS vendors' APIs, spoken on 127.0.0.1 by one small server, as their documentation and
clients describe them (see ../shared/research/providers.md): Twilio's form POST with Basic auth
and signed status callbacks, Brevo's JSON POST with its api-key header, OVHcloud's signed
requests and its 200-with-invalidReceivers. Tests read what was sent from the server and
script its failures (429 with Retry-After, 5xx, a reply slower than the client's timeout)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from app.providers.ovh import ovh_signature
from app.providers.twilio import twilio_signature
from tests.support.cli import free_port

E164 = re.compile(r"^\+[1-9]\d{7,14}$")
# Numbers the fake vendors treat as valid but undeliverable (a landline, say).
UNROUTABLE = "+33140000000"

TWILIO_SID, TWILIO_TOKEN = "AC" + "1" * 32, "twilio-test-auth-token"
BREVO_KEY = "xkeysib-test"
OVH_AK, OVH_AS, OVH_CK, OVH_SERVICE = "ovh-ak", "ovh-as", "ovh-ck", "sms-tt12345-1"


@dataclass
class Sent:
    vendor: str
    to: str
    text: str
    message_id: str
    status_url: str | None


@dataclass
class FakeVendors:
    base_url: str = ""
    sent: list[Sent] = field(default_factory=list)
    # What the next sends answer instead of success: ("status", 429), ("slow", seconds)…
    script: list[tuple[str, float]] = field(default_factory=list)
    ovh_clock_skew: int = 0

    def texts_to(self, number: str) -> list[str]:
        return [s.text for s in self.sent if s.to == number]

    async def _scripted(self) -> Response | None:
        if not self.script:
            return None
        kind, value = self.script.pop(0)
        if kind == "slow":
            await asyncio.sleep(value)
            return None
        headers = {"Retry-After": "2"} if value == 429 else {}
        return JSONResponse({"message": "scripted failure"}, int(value), headers=headers)

    # --- Twilio --------------------------------------------------------------------------

    async def twilio_send(self, request: Request) -> Response:
        if request.headers.get("authorization") != _basic(TWILIO_SID, TWILIO_TOKEN):
            return _twilio_error(401, 20003, "Authenticate")
        if (scripted := await self._scripted()) is not None:
            return scripted
        form = dict(parse_qsl((await request.body()).decode()))
        to = form.get("To", "")
        if not E164.match(to):
            return _twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to == UNROUTABLE:
            return _twilio_error(400, 21614, f"'To' number {to} is not a valid mobile number")
        sid = "SM" + uuid.uuid4().hex
        self.sent.append(Sent("twilio", to, form.get("Body", ""), sid, form.get("StatusCallback")))
        return JSONResponse({"sid": sid, "status": "queued", "to": to}, 201)

    # --- Brevo ---------------------------------------------------------------------------

    async def brevo_send(self, request: Request) -> Response:
        if request.headers.get("api-key") != BREVO_KEY:
            return JSONResponse({"code": "unauthorized", "message": "Key not found"}, 401)
        if (scripted := await self._scripted()) is not None:
            return scripted
        body = json.loads(await request.body())
        to = "+" + str(body.get("recipient", ""))
        if len(str(body.get("sender", ""))) > 15:
            return JSONResponse({"code": "invalid_parameter", "message": "sender too long"}, 400)
        if not E164.match(to) or to == UNROUTABLE:
            return JSONResponse(
                {"code": "invalid_parameter", "message": "Invalid phone number (recipient)"}, 400
            )
        message_id = int(time.time() * 1000)
        self.sent.append(
            Sent("brevo", to, body.get("content", ""), str(message_id), body.get("webUrl"))
        )
        return JSONResponse({"messageId": message_id}, 201)

    # --- OVHcloud ------------------------------------------------------------------------

    async def ovh_time(self, request: Request) -> Response:
        return PlainTextResponse(str(int(time.time()) + self.ovh_clock_skew))

    async def ovh_send(self, request: Request) -> Response:
        body = (await request.body()).decode()
        refusal = self._ovh_refusal(request, body)
        if refusal is not None:
            return refusal
        if (scripted := await self._scripted()) is not None:
            return scripted
        job = json.loads(body)
        valid = [r for r in job["receivers"] if E164.match(r) and r != UNROUTABLE]
        invalid = [r for r in job["receivers"] if r not in valid]
        ids = [int(time.time() * 1000) + n for n in range(len(valid))]
        for receiver, message_id in zip(valid, ids, strict=True):
            self.sent.append(Sent("ovh", receiver, job["message"], str(message_id), None))
        report = {
            "totalCreditsRemoved": len(valid),
            "validReceivers": valid,
            "invalidReceivers": invalid,
            "ids": ids,
        }
        return JSONResponse(report)

    def _ovh_refusal(self, request: Request, body: str) -> Response | None:
        headers = request.headers
        if headers.get("x-ovh-application") != OVH_AK or headers.get("x-ovh-consumer") != OVH_CK:
            return JSONResponse({"errorCode": "INVALID_KEY", "message": "Invalid key"}, 403)
        timestamp = int(headers.get("x-ovh-timestamp", "0"))
        if abs(timestamp - (time.time() + self.ovh_clock_skew)) > 30:
            return JSONResponse({"errorCode": "INVALID_SIGNATURE", "message": "Bad time"}, 400)
        expected = ovh_signature(OVH_AS, OVH_CK, "POST", str(request.url), body, timestamp)
        if headers.get("x-ovh-signature") != expected:
            return JSONResponse(
                {"errorCode": "INVALID_SIGNATURE", "message": "Invalid signature"}, 400
            )
        return None

    # --- callbacks the vendors would make ------------------------------------------------

    def twilio_callback(
        self, message: Sent, status: str, *, token: str = TWILIO_TOKEN
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The form and headers Twilio posts to the message's StatusCallback."""
        assert message.status_url is not None
        form = {"MessageSid": message.message_id, "MessageStatus": status, "AccountSid": TWILIO_SID}
        if status == "undelivered":
            form["ErrorCode"] = "30003"
        return form, {"X-Twilio-Signature": twilio_signature(token, message.status_url, form)}

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(
                    "/2010-04-01/Accounts/{sid}/Messages.json", self.twilio_send, methods=["POST"]
                ),
                Route("/v3/transactionalSMS/send", self.brevo_send, methods=["POST"]),
                Route("/1.0/auth/time", self.ovh_time, methods=["GET"]),
                Route("/1.0/sms/{service}/jobs", self.ovh_send, methods=["POST"]),
            ]
        )


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _twilio_error(status: int, code: int, message: str) -> Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status)


@asynccontextmanager
async def fake_vendors() -> AsyncIterator[FakeVendors]:
    vendors = FakeVendors()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(vendors.app(), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no start event)
        await asyncio.sleep(0.02)
    vendors.base_url = f"http://127.0.0.1:{port}"
    try:
        yield vendors
    finally:
        server.should_exit = True
        await task
