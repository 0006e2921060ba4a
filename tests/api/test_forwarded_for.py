"""The IP written into the evidence: the peer's, unless the peer is a trusted proxy."""

from __future__ import annotations

import httpx
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


async def test_a_trusted_proxy_tells_the_client_ip(
    app: FastAPI, settings: Settings, api: ApiClient
) -> None:
    behind_proxy = settings.model_copy(update={"trusted_proxies": "127.0.0.1, 10.0.0.0/8"})
    async with (
        serve_app(app, behind_proxy) as proxied_url,
        httpx.AsyncClient(base_url=proxied_url, headers=api.headers) as client,
    ):
        assert await recorded_ips(client) == ["203.0.113.9"]


async def test_a_proxy_that_is_not_listed_is_not_believed(
    app: FastAPI, settings: Settings, api: ApiClient
) -> None:
    elsewhere = settings.model_copy(update={"trusted_proxies": "10.0.0.1"})
    async with (
        serve_app(app, elsewhere) as url,
        httpx.AsyncClient(base_url=url, headers=api.headers) as client,
    ):
        assert await recorded_ips(client) == ["127.0.0.1"]
