"""uvicorn as Cachet runs it: `cachet serve` and the tests' server take their options here.

uvicorn closes a keep-alive connection left idle after a response, but holds a new connection
that sends nothing, or sends its headers a byte at a time, for ever; and its connection cap
answers in plain text. GuardedHttpProtocol adds a deadline for each request's line and headers
and a cap whose refusal is problem+json. X-Forwarded-For and X-Forwarded-Proto are believed
only from CACHET_TRUSTED_PROXIES (uvicorn would believe any local client): the client address
is written into the evidence.
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any, ClassVar

from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, HTTPResponseBodyEvent, Scope
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.api.problems import problem_response
from app.config import Settings, get_settings

log = logging.getLogger(__name__)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request-head deadline and a connection cap.

    The deadline runs whenever the connection waits for a request head: from the moment it is
    opened, and again from the end of each response. It stops when a head is complete; a body
    has its own limit (api/body_guard.py). A connection that misses it is closed.
    """

    header_timeout_seconds: ClassVar[float] = 10.0
    max_connections: ClassVar[int] = 1000

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limit_concurrency = None  # replaced by the cap below
        self._application = self.app
        self._head_deadline: asyncio.TimerHandle | None = None

    # --- the request-head deadline --------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.cycle is None or self.cycle.response_complete:
            self._await_head()  # already running unless the head started during a response

    def on_headers_complete(self) -> None:
        self._head_arrived()
        over_cap = len(self.connections) > self.max_connections
        self.app = _overloaded if over_cap else self._application
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        next_head_already_parsed = bool(self.pipeline)
        super().on_response_complete()
        if not next_head_already_parsed and not self.transport.is_closing():
            self._await_head()

    def _await_head(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(
                self.header_timeout_seconds, self._head_too_late
            )

    def _head_arrived(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_late(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            log.info("closed %s: no complete request head within the deadline", self.client)
            self.transport.close()


async def _overloaded(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    log.warning("connection cap reached: %s %s answered 503", scope["type"], scope.get("path"))
    response = problem_response(
        503,
        "too_many_connections",
        "Too many connections",
        "The service has as many connections open as it accepts; try again shortly.",
        headers={"Retry-After": "1", "Connection": "close"},
    )
    await send({"type": "http.response.start", "status": 503, "headers": response.raw_headers})
    body: HTTPResponseBodyEvent = {
        "type": "http.response.body",
        "body": bytes(response.body),
        "more_body": False,
    }
    await send(body)


def guarded_protocol(settings: Settings) -> type[GuardedHttpProtocol]:
    """The protocol class with this configuration's limits (uvicorn instantiates it itself)."""
    limits = {
        "header_timeout_seconds": settings.http_header_timeout_seconds,
        "max_connections": settings.http_max_connections,
    }
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), limits)


WORKER_HEALTHCHECK_SECONDS = 60


def protocol_from_environment(
    config: Config,
    server_state: ServerState,
    app_state: dict[str, Any],
    _loop: asyncio.AbstractEventLoop | None = None,
) -> GuardedHttpProtocol:
    """What uvicorn's worker processes (`cachet serve --workers N`) build connections with: they
    import the protocol by name, since the class guarded_protocol() makes does not pickle, and
    read the limits from their environment, which the parent's settings came from too."""
    return _environment_protocol()(config, server_state, app_state, _loop)


@lru_cache
def _environment_protocol() -> type[GuardedHttpProtocol]:
    return guarded_protocol(get_settings())


def server_options(settings: Settings, *, workers: int = 1) -> dict[str, Any]:
    """Keyword arguments for uvicorn.run / uvicorn.Config, the same for every server we run.
    With several workers uvicorn sends its configuration to each process: it must pickle."""
    trusted = settings.trusted_proxy_list
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        # The service writes its own line per request (app/api/request_log.py), without the
        # path: a signing link's path is its token.
        "access_log": False,
        "http": (
            guarded_protocol(settings)
            if workers == 1
            else f"{__name__}:{protocol_from_environment.__name__}"
        ),
        "workers": workers,
        # uvicorn's supervisor kills a worker that does not answer its ping within this; a new
        # worker answers only once it has imported the service (seconds on a busy host).
        "timeout_worker_healthcheck": WORKER_HEALTHCHECK_SECONDS,
        "timeout_keep_alive": settings.http_keepalive_seconds,
        # Without a proxy named, uvicorn's proxy middleware is left out entirely.
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted,
    }
