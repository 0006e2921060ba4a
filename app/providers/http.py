"""One way to build a provider's HTTP client: explicit timeouts, nothing from the environment."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Loading the CA bundle costs ~50 ms of CPU: once per process."""
    return httpx.create_ssl_context()


def provider_client(*, timeout: float, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        trust_env=False,  # no proxy or CA bundle from the environment
        verify=_tls_context(),
        follow_redirects=False,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        auth=auth,
    )


def provider_sync_client(*, timeout: float) -> httpx.Client:
    """provider_client for code that must not depend on an event loop: a signing worker's
    remote key, called both from plain code and from inside pyHanko's own asyncio.run (an
    AsyncClient's connections belong to the first loop that used them)."""
    return httpx.Client(
        trust_env=False,
        verify=_tls_context(),
        follow_redirects=False,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
    )


def json_or_empty(response: httpx.Response) -> dict[str, object]:
    """The body as a JSON object, or {} when it is not one (an HTML error page, say)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
