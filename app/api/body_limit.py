"""A cap on request bodies everywhere but the streamed file bodies (document upload, PDF
validation), which have their own limits.

JSON bodies here are a few kilobytes; without a cap a client could make the server buffer an
arbitrarily large one before validation even starts.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem_response
from app.errors import PayloadTooLarge

# Streamed file bodies with their own size limit: document uploads and PDFs to validate.
_UPLOAD_PATH = re.compile(r"^/v1/(envelopes/[^/]+/documents|validations)/?$")


class BodyTooLarge(PayloadTooLarge):
    def __init__(self, limit_bytes: int) -> None:
        super().__init__(
            "body_too_large",
            f"Request bodies are limited to {limit_bytes} bytes.",
            title="Request body too large",
        )


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_upload(scope):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        # JSON routes read their whole body anyway: reading it here first, up to the cap, costs
        # no extra memory and lets an oversized chunked body be refused before the app sees it.
        messages = await self._read_capped(receive)
        if messages is None:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, _replay(messages, receive), send)

    async def _read_capped(self, receive: Receive) -> list[Message] | None:
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = BodyTooLarge(self.max_bytes)
        response = problem_response(error.status, error.code, error.title, error.detail)
        await response(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _is_upload(scope: Scope) -> bool:
    return scope["method"] == "POST" and bool(_UPLOAD_PATH.match(scope["path"]))
