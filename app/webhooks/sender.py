"""One delivery attempt: POST to an address the SSRF guard checked, never to a fresh lookup.

The request URL carries the checked IP; the original name travels in the Host header and as
the TLS server name (httpcore's ``sni_hostname`` request extension), so the certificate is
still verified against the name the customer registered. Network failures become an
AttemptResult, never an exception: the caller records the attempt and schedules the next.
"""

from __future__ import annotations

import asyncio
import codecs
import dataclasses
import functools
import ssl
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from app.clock import system_now
from app.webhooks.ssrf import IPAddress, Target, UnsafeUrl, resolve_target

CONNECT_TIMEOUT_SECONDS = 5.0
MAX_READ_BYTES = 64 * 1024
EXCERPT_BYTES = 1024
MAX_RETRY_AFTER_SECONDS = 3600.0
THROTTLING_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None  # None when no response arrived
    error: str | None  # None when the receiver answered 2xx
    duration_ms: int
    response_excerpt: str = ""
    retry_after_seconds: float | None = None  # only on 429 / 503, at most an hour

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        """410: the receiver asks us to stop; the caller disables the endpoint."""
        return self.status_code == 410


@functools.cache
def default_tls_context() -> ssl.SSLContext:
    """Loading the CA bundle costs ~50 ms of CPU (measured): once per process, not per attempt."""
    return httpx.create_ssl_context()


def build_client(*, verify: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """The client for deliveries; `verify` is given only to trust a test CA."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,  # no proxy or CA bundle from the environment
        verify=verify or default_tls_context(),
        # Connections are pooled by IP, not by name: a kept-alive connection, verified for one
        # customer's name, could carry another customer's request to a name on the same IP.
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=0),
        # Nor may one receiver's cookies reach another receiver on the same IP.
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        timeout=httpx.Timeout(15.0, connect=CONNECT_TIMEOUT_SECONDS),
    )


async def attempt_delivery(
    client: httpx.AsyncClient,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    timeout: float,  # noqa: ASYNC109  (a timeout is a result here, not an exception)
    allow_http: bool,
    allow_loopback: bool,
    allowed_ports: Collection[int] | None = None,
) -> AttemptResult:
    """Check and resolve `url` now (a refusal is a failed attempt), then post_pinned."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            target = await resolve_target(
                url,
                allow_http=allow_http,
                allow_loopback=allow_loopback,
                allowed_ports=allowed_ports,
            )
    except UnsafeUrl as refused:
        return AttemptResult(None, f"{refused.code}: {refused.detail}", _elapsed_ms(started))
    except TimeoutError:
        return AttemptResult(None, "timeout (resolving the host)", _elapsed_ms(started))
    remaining = timeout - (time.monotonic() - started)
    result = await post_pinned(client, target, headers, body, timeout=remaining)
    return dataclasses.replace(result, duration_ms=_elapsed_ms(started))


async def post_pinned(
    client: httpx.AsyncClient,
    target: Target,
    headers: Mapping[str, str],
    body: bytes,
    *,
    timeout: float,  # noqa: ASYNC109  (a timeout is a result here, not an exception)
) -> AttemptResult:
    """POST `body` to `target` within `timeout` seconds in all; `target` must be checked."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):  # httpx's timeouts are per read, not in total
            status, response_headers, head = await _post_to_first_reachable(
                client, target, headers, body, limits=_per_operation(timeout)
            )
    except (TimeoutError, httpx.TimeoutException):
        return AttemptResult(None, "timeout", _elapsed_ms(started))
    except httpx.ConnectError as error:
        return AttemptResult(None, f"connect error: {_describe(error)}", _elapsed_ms(started))
    except httpx.TransportError as error:
        return AttemptResult(None, f"transport error: {_describe(error)}", _elapsed_ms(started))
    return AttemptResult(
        status_code=status,
        error=_failure(status),
        duration_ms=_elapsed_ms(started),
        response_excerpt=_excerpt(head),
        retry_after_seconds=(
            parse_retry_after(response_headers.get("retry-after"), now=system_now())
            if status in THROTTLING_STATUSES
            else None
        ),
    )


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Retry-After as seconds from `now`: delay-seconds or an HTTP date, within [0, 1 h]."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # "-0000": HTTP dates are always GMT
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


async def _post_to_first_reachable(
    client: httpx.AsyncClient,
    target: Target,
    headers: Mapping[str, str],
    body: bytes,
    *,
    limits: httpx.Timeout,
) -> tuple[int, httpx.Headers, bytes]:
    """Try the checked addresses in the resolver's order until one accepts the connection.

    A connect error means no byte of the request left, so moving on cannot deliver twice;
    it spares a name whose first address (often IPv6) is unreachable from us.
    """
    *earlier, last = target.addresses
    for address in earlier:
        try:
            return await _post_to(client, target, address, headers, body, limits=limits)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            continue
    return await _post_to(client, target, last, headers, body, limits=limits)


async def _post_to(
    client: httpx.AsyncClient,
    target: Target,
    address: IPAddress,
    headers: Mapping[str, str],
    body: bytes,
    *,
    limits: httpx.Timeout,
) -> tuple[int, httpx.Headers, bytes]:
    original = httpx.URL(target.url)
    request_headers = httpx.Headers(headers)
    request_headers["host"] = original.netloc.decode("ascii")
    # Raw bytes only: a compressed answer could expand far beyond what we mean to read.
    request_headers["accept-encoding"] = "identity"
    async with client.stream(
        "POST",
        original.copy_with(host=str(address)),
        content=body,
        headers=request_headers,
        timeout=limits,
        extensions={"sni_hostname": target.host},  # TLS name and certificate check
    ) as response:
        head = await _read_at_most(response, MAX_READ_BYTES)
        return response.status_code, response.headers, head


async def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    received = bytearray()
    async for chunk in response.aiter_raw():
        received += chunk
        if len(received) >= limit:
            break  # leaving the stream closes the connection with the rest unread
    return bytes(received[:limit])


def _per_operation(total: float) -> httpx.Timeout:
    return httpx.Timeout(total, connect=min(CONNECT_TIMEOUT_SECONDS, total))


def _excerpt(head: bytes) -> str:
    """The first kilobyte as text; a character cut at the end is dropped, not replaced."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return decoder.decode(head[:EXCERPT_BYTES], final=False)


def _failure(status: int) -> str | None:
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"redirect not followed ({status})"
    return f"HTTP {status}"


def _describe(error: Exception) -> str:
    return str(error) or type(error).__name__


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
