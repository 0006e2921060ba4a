"""Real receivers on loopback for the engine's side effects: an SMTP server and a webhook
endpoint that verifies every delivery with the `standardwebhooks` package as it arrives."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from standardwebhooks import Webhook

from tests.support.polling import wait_until

LINK_TOKEN = re.compile(r"/sign/([A-Za-z0-9_-]{20,})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class MailSink:
    """aiosmtpd handler: keeps every message; addresses in `refuse` get a permanent 550."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(  # noqa: N802  (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802  (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    async def wait_for(
        self, address: str, count: int = 1, *, within: float = 15.0
    ) -> list[EmailMessage]:
        def received() -> str:
            subjects = [(str(m["To"]), str(m["Subject"])) for m in self.messages]
            return f"{count} email(s) to {address}; got {subjects}"

        await wait_until(lambda: len(self.to(address)) >= count, within=within, what=received)
        return self.to(address)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")  # SMTP carries CRLF


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")  # SMTP carries CRLF


def link_token(message: EmailMessage) -> str:
    found = LINK_TOKEN.search(text_of(message))
    assert found, text_of(message)
    return found.group(1)


@asynccontextmanager
async def smtp_server() -> AsyncIterator[tuple[MailSink, int]]:
    sink = MailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int

    @property
    def json(self) -> dict[str, Any]:
        import json

        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class WebhookReceiver:
    """An ASGI endpoint; `respond` picks the status for each arrival (default 200)."""

    secret: str | None = None
    received: list[Received] = field(default_factory=list)
    respond: Callable[[Received], int] = lambda _: 200
    url: str = ""
    # When given, each arrival is counted in `arriving`, then held until the gate opens.
    gate: asyncio.Event | None = None
    arriving: int = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.arriving += 1
        if self.gate is not None:
            await self.gate.wait()
        arrival = Received(headers, body, self._verify(body, headers), 0)
        arrival.status = self.respond(arrival)
        self.received.append(arrival)
        await send({"type": "http.response.start", "status": arrival.status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def _verify(self, body: bytes, headers: dict[str, str]) -> bool:
        # Verified on arrival: standardwebhooks refuses timestamps older than 5 minutes.
        if self.secret is None:
            return False
        try:
            Webhook(self.secret).verify(body, headers)
        except Exception:
            return False
        return True

    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]

    def types(self) -> list[str]:
        return [str(r.json["type"]) for r in self.accepted()]

    async def wait_until(
        self, condition: Callable[[WebhookReceiver], bool], *, within: float = 20.0
    ) -> None:
        await wait_until(
            lambda: condition(self),
            within=within,
            what=lambda: f"webhooks not received; got {self.types()}",
        )


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    port = free_port()
    config = uvicorn.Config(receiver, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no start event)
        await asyncio.sleep(0.02)
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
