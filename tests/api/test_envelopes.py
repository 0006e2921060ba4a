"""Envelope drafts over HTTP: create, read, list, update, delete, idempotency, errors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx

from tests.support import ApiClient

PROBLEM = "application/problem+json"


async def test_create_signature_envelope_shows_defaults_and_readiness(api: ApiClient) -> None:
    response = await api.post(
        "/v1/envelopes",
        json={
            "kind": "signature",
            "name": "Facturation",
            "message": "Merci de signer",
            "sender": {"email": "jim.agine@clic.fr", "first_name": "Jim", "last_name": "Agine"},
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/v1/envelopes/{body['id']}"
    assert body["status"] == "draft"
    assert body["level"] == "simple"
    assert body["locale"] == "fr"
    assert body["sender"] == {
        "user_id": None,
        "email": "jim.agine@clic.fr",
        "first_name": "Jim",
        "last_name": "Agine",
    }
    assert body["size"] == {"used_bytes": 0, "limit_bytes": 15_728_640}
    assert body["documents"] == [] and body["recipients"] == []
    assert body["ready_to_send"] is False
    # The default level, `simple`, can be sent: only the missing parts block.
    assert [b["code"] for b in body["blockers"]] == ["no_documents", "no_recipients"]
    assert (await api.get_envelope(body["id"])) == body


async def test_approval_envelope_has_no_level(api: ApiClient) -> None:
    envelope = await api.envelope("approval")
    assert envelope["level"] is None
    refused = await api.post(
        "/v1/envelopes",
        json={"kind": "approval", "level": "simple", "sender": {"email": "a@example.com"}},
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"pointer": "/level", "detail": "approval envelopes have no signature level"}
    ]


async def test_sender_from_user_directory(api: ApiClient) -> None:
    await api.put(
        "/v1/users/u-42",
        json={"email": "nico@mondomaine.fr", "first_name": "Nico", "last_name": "Las"},
    )
    envelope = await api.envelope(sender={"user_id": "u-42"}, sender_signs_first=True)
    assert envelope["sender"]["email"] == "nico@mondomaine.fr"
    (first,) = envelope["recipients"]
    assert first["is_sender"] and first["position"] == 1 and first["user_id"] == "u-42"
    assert first["role"] == "signer"
    unknown = await api.post(
        "/v1/envelopes", json={"kind": "signature", "sender": {"user_id": "nobody"}}
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["pointer"] == "/sender/user_id"


async def test_bad_bodies_are_problems_with_pointers(api: ApiClient) -> None:
    cases = [
        ({"kind": "letter", "sender": {"email": "a@example.com"}}, "/kind"),
        ({"kind": "signature"}, "/sender"),
        ({"kind": "signature", "sender": {"email": "not-an-email"}}, "/sender/email"),
        ({"kind": "signature", "sender": {}}, "/sender"),
        (
            {"kind": "signature", "sender": {"email": "a@example.com"}, "tenant_id": "x"},
            "/tenant_id",
        ),
        ({"kind": "signature", "sender": {"email": "a@example.com"}, "status": "sent"}, "/status"),
        ({"kind": "signature", "sender": {"email": "a@example.com"}, "level": "gold"}, "/level"),
        (
            {
                "kind": "signature",
                "sender": {"email": "a@example.com"},
                "reminders": {"interval_days": 0, "max_count": 1},
            },
            "/reminders/interval_days",
        ),
        (
            {
                "kind": "signature",
                "sender": {"email": "a@example.com"},
                "expires_at": "2020-01-01T00:00:00Z",
            },
            "/expires_at",
        ),
        (
            {
                "kind": "signature",
                "sender": {"email": "a@example.com"},
                "expires_at": "2099-01-01T00:00:00",
            },
            "/expires_at",
        ),
    ]
    for body, pointer in cases:
        response = await api.post("/v1/envelopes", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["status"] == 422 and problem["type"].startswith("urn:cachet:problem:")
        assert pointer in [e["pointer"] for e in problem["errors"]], (body, problem)
    listed = await api.get("/v1/envelopes")
    assert listed.json()["data"] == [], "a refused request leaves nothing behind"


async def test_malformed_json_is_400(api: ApiClient) -> None:
    response = await api.post(
        "/v1/envelopes", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


async def test_authentication_is_required(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as anonymous:
        missing = await anonymous.get("/v1/envelopes")
        wrong = await anonymous.get(
            "/v1/envelopes", headers={"Authorization": "Bearer cachet_wrong"}
        )
    for response, code in ((missing, "missing_api_key"), (wrong, "invalid_api_key")):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["code"] == code


async def test_update_changes_only_given_fields(api: ApiClient) -> None:
    envelope = await api.envelope(name="Avant", message="garder")
    expires = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    response = await api.patch(
        f"/v1/envelopes/{envelope['id']}",
        json={
            "name": "Après",
            "level": "eidas_simple",
            "expires_at": expires.isoformat(),
            "reminders": {"interval_days": 2, "max_count": 3},
            "locale": "en",
            "distribute_to_signers": True,
            "sender_copy": True,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "Après" and body["message"] == "garder"
    assert body["level"] == "eidas_simple" and body["locale"] == "en"
    assert datetime.fromisoformat(body["expires_at"]) == expires
    assert body["reminders"] == {"interval_days": 2, "max_count": 3}
    assert body["distribute_to_signers"] and body["sender_copy"]
    assert "name_missing" not in [b["code"] for b in body["blockers"]]  # eidas_advanced only
    cleared = await api.patch(
        f"/v1/envelopes/{envelope['id']}", json={"message": None, "reminders": None}
    )
    assert cleared.json()["message"] is None and cleared.json()["reminders"] is None
    for bad in ({"kind": "approval"}, {"locale": None}, {"sender_signs_first": None}):
        refused = await api.patch(f"/v1/envelopes/{envelope['id']}", json=bad)
        assert refused.status_code == 422, bad


async def test_delete_draft(api: ApiClient) -> None:
    envelope = await api.envelope()
    assert (await api.delete(f"/v1/envelopes/{envelope['id']}")).status_code == 204
    assert (await api.get(f"/v1/envelopes/{envelope['id']}")).status_code == 404
    assert (await api.delete(f"/v1/envelopes/{envelope['id']}")).status_code == 404


async def test_unknown_envelope_and_bad_id(api: ApiClient) -> None:
    missing = await api.get(f"/v1/envelopes/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["code"] == "envelope_not_found"
    bad = await api.get("/v1/envelopes/not-a-uuid")
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/envelope_id"


async def test_list_paginates_with_cursor_and_filters(api: ApiClient) -> None:
    created = [await api.envelope("signature" if i % 2 else "approval") for i in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/envelopes", params=params)).json()
        seen += [e["id"] for e in page["data"]]
        assert len(page["data"]) <= 3
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert seen == [e["id"] for e in reversed(created)]
    approvals = (await api.get("/v1/envelopes", params={"kind": "approval"})).json()["data"]
    assert {e["kind"] for e in approvals} == {"approval"} and len(approvals) == 4
    drafts = (await api.get("/v1/envelopes", params={"status": "draft", "limit": 100})).json()
    assert len(drafts["data"]) == 7
    for params in ({"cursor": "garbage"}, {"limit": 0}, {"limit": 101}, {"kind": "x"}):
        response = await api.get("/v1/envelopes", params=params)
        assert response.status_code in (400, 422), params
        assert response.headers["content-type"] == PROBLEM


async def test_idempotency_key_replays_the_first_answer(api: ApiClient) -> None:
    body = {"kind": "signature", "name": "Once", "sender": {"email": "a@example.com"}}
    headers = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    first = await api.post("/v1/envelopes", json=body, headers=headers)
    again = await api.post("/v1/envelopes", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = await api.post("/v1/envelopes", json={**body, "name": "Twice"}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    listed = (await api.get("/v1/envelopes")).json()["data"]
    assert [e["id"] for e in listed] == [first.json()["id"]]


async def test_concurrent_requests_with_one_key_create_one_envelope(api: ApiClient) -> None:
    body = {"kind": "approval", "sender": {"email": "a@example.com"}}
    headers = {"Idempotency-Key": "same-key"}
    responses = await asyncio.gather(
        *(api.post("/v1/envelopes", json=body, headers=headers) for _ in range(8))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len((await api.get("/v1/envelopes")).json()["data"]) == 1


async def test_idempotency_keys_are_per_tenant(api: ApiClient, other_api: ApiClient) -> None:
    body = {"kind": "approval", "sender": {"email": "a@example.com"}}
    headers = {"Idempotency-Key": "shared"}
    mine = await api.post("/v1/envelopes", json=body, headers=headers)
    theirs = await other_api.post("/v1/envelopes", json=body, headers=headers)
    assert mine.json()["id"] != theirs.json()["id"]


async def test_a_failed_request_frees_its_idempotency_key(api: ApiClient) -> None:
    headers = {"Idempotency-Key": "retry-me"}
    bad = {"kind": "signature", "sender": {"user_id": "later"}}
    assert (await api.post("/v1/envelopes", json=bad, headers=headers)).status_code == 422
    await api.put("/v1/users/later", json={"email": "later@example.com"})
    assert (await api.post("/v1/envelopes", json=bad, headers=headers)).status_code == 201


async def test_oversized_json_bodies_are_refused(api: ApiClient) -> None:
    huge = {"kind": "signature", "sender": {"email": "a@example.com"}, "message": "x" * 2_000_000}
    declared = await api.post("/v1/envelopes", json=huge)
    assert declared.status_code == 413
    assert declared.json()["code"] == "body_too_large"

    async def chunked_body() -> AsyncIterator[bytes]:
        yield b'{"kind": "signature", "message": "'
        for _ in range(40):
            yield b"y" * 50_000
        yield b'"}'

    streamed = await api.post(
        "/v1/envelopes", content=chunked_body(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert streamed.headers["content-type"] == PROBLEM
    assert (await api.get("/v1/envelopes")).json()["data"] == []


async def test_control_characters_are_refused_not_stored(api: ApiClient) -> None:
    cases = [
        (
            "POST",
            "/v1/envelopes",
            {"kind": "approval", "name": "a\x00b", "sender": {"email": "a@example.com"}},
            "/name",
        ),
        (
            "POST",
            "/v1/envelopes",
            {"kind": "approval", "sender": {"user_id": "u\x00"}},
            "/sender/user_id",
        ),
        ("PUT", "/v1/users/u1", {"email": "a@example.com", "first_name": "\x00"}, "/first_name"),
    ]
    for method, path, body, pointer in cases:
        response = await api.request(method, path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert pointer in [e["pointer"] for e in response.json()["errors"]]
    assert (await api.get("/v1/users/u%00")).status_code == 422
    kept = await api.post(
        "/v1/envelopes",
        json={
            "kind": "approval",
            "message": "Bonjour,\n\tmerci",
            "sender": {"email": "a@example.com"},
        },
    )
    assert kept.json()["message"] == "Bonjour,\n\tmerci"


async def test_undecodable_body_is_malformed_json(api: ApiClient) -> None:
    envelope = await api.envelope()
    response = await api.patch(
        f"/v1/envelopes/{envelope['id']}",
        content=b"\xff\xfe",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
