"""Tenant isolation, generated from the OpenAPI document: every route that takes an id, called
with another tenant's key on this tenant's objects, answers 404 and changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support import ApiClient, make_pdf

SPEC = json.loads((Path(__file__).resolve().parents[2] / "openapi" / "openapi.json").read_text())

BODIES: dict[str, Any] = {
    "updateEnvelope": {"name": "stolen"},
    "addRecipient": {"email": "intruder@example.com"},
    "updateRecipient": {"first_name": "Intruder"},
    "reorderRecipients": {"recipient_ids": []},
    "putStamp": {"page": 1, "x": 300, "y": 300, "width": 100, "height": 50},
    "uploadDocument": None,
}


def _id_routes() -> list[tuple[str, str, str]]:
    routes = []
    for path, operations in SPEC["paths"].items():
        if "{envelope_id}" not in path:
            continue
        for method, operation in operations.items():
            routes.append((method, path, operation["operationId"]))
    return routes


async def test_the_matrix_covers_every_route_with_an_envelope() -> None:
    operations = {op for _, _, op in _id_routes()}
    assert operations >= set(BODIES) | {"getEnvelope", "deleteEnvelope", "getDocumentContent"}


async def test_another_tenant_gets_404_and_changes_nothing(
    api: ApiClient, other_api: ApiClient
) -> None:
    await api.put("/v1/users/secret-user", json={"email": "secret@example.com"})
    envelope = await api.envelope()
    document = (await api.upload(envelope["id"], make_pdf())).json()
    recipient = await api.add_recipient(envelope["id"], email="r@example.com")
    stamp_url = (
        f"/v1/envelopes/{envelope['id']}/documents/{document['id']}/stamps/{recipient['id']}"
    )
    await api.put(stamp_url, json={"page": 1, "x": 10, "y": 10, "width": 100, "height": 50})
    ids = {
        "envelope_id": envelope["id"],
        "document_id": document["id"],
        "recipient_id": recipient["id"],
    }
    before = await api.get_envelope(envelope["id"])
    for method, template, operation in _id_routes():
        path = template.format(**ids)
        kwargs: dict[str, Any] = {}
        if operation == "uploadDocument":
            kwargs = {"params": {"filename": "x.pdf"}, "content": make_pdf()}
        elif operation in BODIES:
            kwargs = {"json": BODIES[operation]}
        response = await other_api.request(method.upper(), path, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert (await other_api.get("/v1/users/secret-user")).status_code == 404
    assert await api.get_envelope(envelope["id"]) == before
    assert (await other_api.get("/v1/envelopes")).json()["data"] == []


async def test_another_tenants_recipient_on_my_document_is_404(
    api: ApiClient, other_api: ApiClient
) -> None:
    mine = await api.envelope()
    document = (await api.upload(mine["id"], make_pdf())).json()
    theirs = await other_api.envelope()
    their_recipient = await other_api.add_recipient(theirs["id"], email="t@example.com")
    url = f"/v1/envelopes/{mine['id']}/documents/{document['id']}/stamps/{their_recipient['id']}"
    response = await api.put(url, json={"page": 1, "x": 10, "y": 10, "width": 100, "height": 50})
    assert response.status_code == 404 and response.json()["code"] == "recipient_not_found"


async def test_users_are_per_tenant(api: ApiClient, other_api: ApiClient) -> None:
    await api.put("/v1/users/same", json={"email": "mine@example.com"})
    created = await other_api.put("/v1/users/same", json={"email": "theirs@example.com"})
    assert created.status_code == 201
    assert (await api.get("/v1/users/same")).json()["email"] == "mine@example.com"
    await api.put("/v1/users/only-mine", json={"email": "m@example.com"})
    refused = await other_api.post(
        "/v1/envelopes", json={"kind": "approval", "sender": {"user_id": "only-mine"}}
    )
    assert refused.status_code == 422
