"""Request bodies from slow or vanished clients.

A body shorter than its Content-Length would otherwise hold its request (and, for an upload,
its temporary file) forever: each wait for the next part of a body is bounded, and a client
that stays silent longer gets 408 `body_timeout` and its connection closed. A client that
closes the connection in the middle of its body is logged in one line, not as an error with a
traceback: nothing went wrong on our side, and the upload's temporary file is already gone.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem_response
from app.errors import DomainError

log = logging.getLogger(__name__)


class BodyTimeout(DomainError):
    status = 408
    default_title = "Request body too slow"

    def __init__(self, seconds: float) -> None:
        super().__init__(
            "body_timeout",
            f"No part of the request body arrived for {seconds:g} seconds; send it again.",
        )


@dataclass
class _Body:
    """Where the reading of one request's body stands."""

    complete: bool = False
    received_bytes: int = 0
    timed_out: bool = False


class BodyGuardMiddleware:
    def __init__(self, app: ASGIApp, *, timeout_seconds: float) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = _Body()
        started = False

        async def bounded_receive() -> Message:
            if body.complete:  # later calls only wait for a disconnect: no limit on those
                return await receive()
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    message = await receive()
            except TimeoutError:
                body.timed_out = True
                raise BodyTimeout(self.timeout_seconds) from None
            body.received_bytes += len(message.get("body", b""))
            body.complete = message["type"] != "http.request" or not message.get("more_body")
            return message

        async def closing_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if body.timed_out:  # the rest of that body may still come: never read it
                    message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        try:
            await self.app(scope, bounded_receive, closing_send)
        except BodyTimeout as error:  # raised where no route turned it into a problem
            if started:
                raise
            response = problem_response(error.status, error.code, error.title, error.detail)
            await response(scope, receive, closing_send)
        except ClientDisconnect:
            log.warning(
                "client left during the request body: %s %s after %d bytes",
                scope["method"],
                scope["path"],
                body.received_bytes,
            )
