"""Registering webhook endpoints: the secret shown once, URL checks (stricter in production),
event type subscriptions, and changes through the API."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest

from app.config import Environment
from app.runtime import Runtime
from tests.support import ApiClient
from tests.support.sinks import MailSink, webhook_receiver
from tests.webhooks.test_delivery import (
    ENDPOINTS,
    deliveries,
    get_endpoint,
    register,
    registered_receiver,
)
from tests.workflow.support import approval_envelope, open_invitation, send

PROBLEM = "application/problem+json"


def assert_url_problem(response: httpx.Response, code: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == code
    assert [error["pointer"] for error in problem["errors"]] == ["/url"]


async def test_the_secret_is_shown_only_at_registration(api: ApiClient) -> None:
    created = await register(api, "http://127.0.0.1:9/hook", description="orders")
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) <= 64
    assert created["enabled"] is True and created["event_types"] == []
    assert created["description"] == "orders" and created["disabled_reason"] is None

    shown = await api.get(f"{ENDPOINTS}/{created['id']}")
    listed = await api.get(ENDPOINTS)
    changed = await api.patch(f"{ENDPOINTS}/{created['id']}", json={"description": "invoices"})
    for response in (shown, listed, changed):
        assert response.status_code == 200, response.text
        assert secret not in response.text and "secret" not in response.text
    assert listed.json()["data"] == [{**shown.json()}]
    assert changed.json()["description"] == "invoices"
    # A second endpoint gets a secret of its own.
    assert (await register(api, "http://127.0.0.1:9/other"))["secret"] != secret


async def test_an_endpoint_gets_only_the_event_types_it_subscribed_to(
    api: ApiClient, base_url: str, mail: MailSink
) -> None:
    tag = uuid.uuid4().hex[:8]
    envelope, approvers = await approval_envelope(api, approvers=1, tag=tag)
    async with (
        registered_receiver(api) as (everything, _),
        registered_receiver(api, event_types=["envelope.completed"]) as (completed, endpoint),
    ):
        assert endpoint["event_types"] == ["envelope.completed"]
        await send(api, envelope["id"])
        async with open_invitation(base_url, mail, approvers[0]["email"]) as recipient:
            assert (await recipient.approve()).status_code == 200
        await everything.wait_until(lambda r: "envelope.completed" in r.types())
        await completed.wait_until(lambda r: len(r.accepted()) >= 1)

    assert everything.types() == [
        "envelope.sent",
        "recipient.invited",
        "recipient.opened",
        "recipient.approved",
        "envelope.completed",
    ]
    assert completed.types() == ["envelope.completed"]
    assert all(r.verified for r in completed.received)
    assert [d["event_type"] for d in await deliveries(api, endpoint["id"])] == [
        "envelope.completed"
    ]


async def test_an_unknown_event_type_is_refused(api: ApiClient) -> None:
    response = await api.post(
        ENDPOINTS, json={"url": "http://127.0.0.1:9/hook", "event_types": ["envelope.eaten"]}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert [e["pointer"] for e in response.json()["errors"]] == ["/event_types/0"]


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/hook", "scheme_not_allowed"),
        ("not a url", "scheme_not_allowed"),
        ("https://", "invalid_url"),
        ("http://user:password@127.0.0.1:9/hook", "invalid_url"),
        ("http://127.0.0.1:0/hook", "invalid_url"),
        ("", "validation_failed"),
    ],
)
async def test_a_url_that_cannot_be_delivered_to_is_refused(
    api: ApiClient, url: str, code: str
) -> None:
    assert_url_problem(await api.post(ENDPOINTS, json={"url": url}), code)
    assert (await api.get(ENDPOINTS)).json()["data"] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:10.0.0.5]/hook",
    ],
)
async def test_development_refuses_private_addresses_too(api: ApiClient, url: str) -> None:
    """Loopback only: a developer's receiver, never the network around the machine."""
    assert_url_problem(await api.post(ENDPOINTS, json={"url": url}), "address_not_allowed")
    endpoint = await register(api, "http://127.0.0.1:9/hook")
    refused = await api.patch(f"{ENDPOINTS}/{endpoint['id']}", json={"url": url})
    assert_url_problem(refused, "address_not_allowed")
    assert [e["url"] for e in (await api.get(ENDPOINTS)).json()["data"]] == [
        "http://127.0.0.1:9/hook"
    ]


async def test_changing_the_url_is_checked_like_registering_it(api: ApiClient) -> None:
    endpoint = await register(api, "http://127.0.0.1:9/hook")
    refused = await api.patch(f"{ENDPOINTS}/{endpoint['id']}", json={"url": "ftp://x.example"})
    assert_url_problem(refused, "scheme_not_allowed")
    assert (await get_endpoint(api, endpoint["id"]))["url"] == "http://127.0.0.1:9/hook"
    moved = await api.patch(f"{ENDPOINTS}/{endpoint['id']}", json={"url": "http://[::1]:9/h"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["url"] == "http://[::1]:9/h"


async def test_production_refuses_loopback_urls(api: ApiClient, runtime: Runtime) -> None:
    async with webhook_receiver() as receiver:
        port = httpx.URL(receiver.url).port
        existing = await register(api, receiver.url)
        original = runtime.settings.env
        runtime.settings.env = Environment.production
        try:
            for url, code in [
                (receiver.url, "scheme_not_allowed"),
                (f"https://127.0.0.1:{port}/hook", "address_not_allowed"),
                (f"https://localhost:{port}/hook", "address_not_allowed"),
                (f"https://[::1]:{port}/hook", "address_not_allowed"),
                (f"https://[::ffff:127.0.0.1]:{port}/hook", "address_not_allowed"),
            ]:
                assert_url_problem(await api.post(ENDPOINTS, json={"url": url}), code)
            change = {"url": f"https://127.0.0.1:{port}/hook"}
            refused = await api.patch(f"{ENDPOINTS}/{existing['id']}", json=change)
            assert_url_problem(refused, "address_not_allowed")
        finally:
            runtime.settings.env = original
        assert [e["id"] for e in (await api.get(ENDPOINTS)).json()["data"]] == [existing["id"]]
        assert receiver.received == []


async def test_a_deleted_endpoint_is_gone(api: ApiClient) -> None:
    endpoint = await register(api, "http://127.0.0.1:9/hook")
    assert (await api.delete(f"{ENDPOINTS}/{endpoint['id']}")).status_code == 204
    missing = await api.get(f"{ENDPOINTS}/{endpoint['id']}")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert missing.json()["code"] == "webhook_endpoint_not_found"
    assert (await api.get(ENDPOINTS)).json()["data"] == []
