"""The IP written into the evidence: the peer's, unless the peer is a trusted proxy."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from tests.support import ApiClient
from tests.support.http_server import serve_app

FORWARDED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


async def recorded_ips(client: httpx.AsyncClient) -> list[str | None]:
    """Creates an envelope with the forwarding headers; the IPs of its events."""
    body = {"kind": "approval", "sender": {"email": "sender@example.com"}}
    created = await client.post("/v1/envelopes", json=body, headers=FORWARDED)
    assert created.status_code == 201, created.text
    events = await client.get(f"/v1/envelopes/{created.json()['id']}/events")
    assert events.status_code == 200, events.text
    return [event["ip"] for event in events.json()["data"]]


async def test_a_local_client_cannot_choose_its_ip_by_default(api: ApiClient) -> None:
    assert await recorded_ips(api) == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("trusted_proxies", "recorded"),
    [
        ("127.0.0.1, 10.0.0.0/8", "203.0.113.9"),  # the peer is a proxy: the client it names
        ("10.0.0.1", "127.0.0.1"),  # another proxy is trusted, not this peer
    ],
)
async def test_only_a_trusted_proxy_tells_the_client_ip(
    app: FastAPI, settings: Settings, api: ApiClient, trusted_proxies: str, recorded: str
) -> None:
    configured = settings.model_copy(update={"trusted_proxies": trusted_proxies})
    async with (
        serve_app(app, configured) as url,
        httpx.AsyncClient(base_url=url, headers=api.headers) as client,
    ):
        assert await recorded_ips(client) == [recorded]
