"""One log line and one latency observation per HTTP request.

The route is the matched route's template (/v1/envelopes/{envelope_id}), never the path that
was asked for: a signing link's path is its token, and raw paths would make a metric series
per envelope. The tenant is the API key's (get_principal notes it in the request's state) or,
for a recipient's session, its envelope's; a request refused before either is known has none.
"""

from __future__ import annotations

import logging
import time
import uuid

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.metrics import observe_request

log = logging.getLogger("cachet.requests")

UNMATCHED = "<unmatched>"  # a 404 for a path no route knows: one series for them all
# A client may send any token as a method: the others share one series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
TENANT_STATE = "tenant_id"
# The app returned without answering: the client left first (mid-body, say). nginx's code for
# it; not a 500, nothing went wrong on our side.
CLIENT_LEFT = 499


def note_tenant(request: Request, tenant_id: uuid.UUID) -> None:
    setattr(request.state, TENANT_STATE, str(tenant_id))


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        started = time.perf_counter()
        status: int | None = None

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        except BaseException:
            status = status or 500  # what the client sees when the app raises before answering
            raise
        finally:
            _record(scope, status or CLIENT_LEFT, time.perf_counter() - started)


def _record(scope: Scope, status: int, seconds: float) -> None:
    route = getattr(scope.get("route"), "path", None) or UNMATCHED
    method = scope["method"] if scope["method"] in METHODS else "OTHER"
    observe_request(method, route, status, seconds)
    log.info(
        "%s %s %d",
        method,
        route,
        status,
        extra={
            "event": "request",
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 1),
            "tenant_id": scope["state"].get(TENANT_STATE),
        },
    )
