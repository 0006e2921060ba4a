"""The user directory, the probes, and problem+json for unknown routes."""

from __future__ import annotations

import httpx

from tests.support import ApiClient


async def test_put_creates_then_replaces(api: ApiClient) -> None:
    created = await api.put(
        "/v1/users/u-1",
        json={"email": "a@example.com", "first_name": "Ann", "phone": "+33612345678"},
    )
    assert created.status_code == 201, created.text
    replaced = await api.put("/v1/users/u-1", json={"email": "b@example.com", "last_name": "Bee"})
    assert replaced.status_code == 200
    body = (await api.get("/v1/users/u-1")).json()
    assert (body["email"], body["first_name"], body["last_name"], body["phone"]) == (
        "b@example.com",
        None,
        "Bee",
        None,
    )
    for bad, pointer in (
        ({}, "/email"),
        ({"email": "x"}, "/email"),
        ({"email": "a@example.com", "phone": "12"}, "/phone"),
        ({"email": "a@example.com", "role": "admin"}, "/role"),
    ):
        response = await api.put("/v1/users/u-2", json=bad)
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == pointer
    assert (await api.get("/v1/users/u-2")).status_code == 404


async def test_recipients_follow_the_directory(api: ApiClient) -> None:
    await api.put("/v1/users/u-9", json={"email": "old@example.com", "first_name": "Old"})
    envelope = await api.envelope()
    await api.add_recipient(envelope["id"], user_id="u-9")
    await api.put("/v1/users/u-9", json={"email": "new@example.com", "first_name": "New"})
    (recipient,) = (await api.get_envelope(envelope["id"]))["recipients"]
    assert (recipient["email"], recipient["first_name"]) == ("new@example.com", "New")


async def test_probes(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok", "database": "ok", "migrations": "at_head"}
        unknown = await client.get("/nope")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
        wrong_method = await client.put("/healthz")
        assert wrong_method.status_code == 405
        assert wrong_method.json()["code"] == "method_not_allowed"


async def test_every_answer_has_a_request_id(api: ApiClient) -> None:
    ok = await api.get("/v1/envelopes")
    assert len(ok.headers["x-request-id"]) == 32
    mine = await api.get("/v1/envelopes/not-a-uuid", headers={"X-Request-ID": "trace-42"})
    assert mine.headers["x-request-id"] == "trace-42"
    assert mine.json()["request_id"] == "trace-42"
    hostile = await api.get("/v1/envelopes", headers={"X-Request-ID": "x" * 500})
    assert hostile.headers["x-request-id"] != "x" * 500
