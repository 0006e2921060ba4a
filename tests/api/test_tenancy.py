"""Tenant isolation, generated from the OpenAPI document: every route that takes an id, called
with another tenant's key on this tenant's objects, answers 404 and changes nothing. Two
matrices: the routes under an envelope, and the routes under a webhook endpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support import ApiClient, make_pdf
from tests.support.sinks import webhook_receiver
from tests.webhooks.test_delivery import settled_deliveries

SPEC = json.loads((Path(__file__).resolve().parents[2] / "openapi" / "openapi.json").read_text())

BODIES: dict[str, Any] = {
    "updateEnvelope": {"name": "stolen"},
    "addRecipient": {"email": "intruder@example.com"},
    "updateRecipient": {"first_name": "Intruder"},
    "reorderRecipients": {"recipient_ids": []},
    "putStamp": {"page": 1, "x": 300, "y": 300, "width": 100, "height": 50},
    "uploadDocument": None,
}
WEBHOOK_BODIES: dict[str, Any] = {
    "updateWebhookEndpoint": {
        "url": "https://example.com/stolen",
        "description": "stolen",
        "event_types": ["envelope.sent"],
        "enabled": False,
    },
}
WEBHOOK_OPERATIONS = {
    "getWebhookEndpoint",
    "updateWebhookEndpoint",
    "deleteWebhookEndpoint",
    "listWebhookDeliveries",
    "retryWebhookDelivery",
    "sendWebhookTestEvent",
}


def _id_routes(parameter: str = "{envelope_id}") -> list[tuple[str, str, str]]:
    routes = []
    for path, operations in SPEC["paths"].items():
        if parameter not in path:
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
        "page": 1,  # a page image: the document's first page exists
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


async def test_the_webhook_matrix_covers_every_route_with_an_endpoint() -> None:
    operations = {op for _, _, op in _id_routes("{endpoint_id}")}
    assert operations >= WEBHOOK_OPERATIONS >= set(WEBHOOK_BODIES)
    # A delivery is only ever addressed under its endpoint, so this matrix reaches it too.
    assert {op for _, _, op in _id_routes("{delivery_id}")} <= operations


async def test_another_tenant_gets_404_on_my_webhook_endpoint_and_changes_nothing(
    api: ApiClient, other_api: ApiClient
) -> None:
    async with webhook_receiver() as receiver:
        created = await api.post("/v1/webhook-endpoints", json={"url": receiver.url})
        assert created.status_code == 201, created.text
        endpoint_id = created.json()["id"]
        test = await api.post(f"/v1/webhook-endpoints/{endpoint_id}/test")
        assert test.status_code == 202, test.text
        delivery_id = test.json()["id"]
        await receiver.wait_until(lambda r: len(r.accepted()) == 1)
        # Settled, so that a retry that wrongly got through would be a 202, not a 409.
        await settled_deliveries(api, endpoint_id, 1)
        deliveries = f"/v1/webhook-endpoints/{endpoint_id}/deliveries"
        endpoint_before = (await api.get(f"/v1/webhook-endpoints/{endpoint_id}")).json()
        deliveries_before = (await api.get(deliveries)).json()
        assert deliveries_before["data"][0]["status"] == "succeeded"

        ids = {"endpoint_id": endpoint_id, "delivery_id": delivery_id}
        for method, template, operation in _id_routes("{endpoint_id}"):
            path = template.format(**ids)
            kwargs: dict[str, Any] = {}
            if operation in WEBHOOK_BODIES:
                kwargs = {"json": WEBHOOK_BODIES[operation]}
            response = await other_api.request(method.upper(), path, **kwargs)
            assert response.status_code == 404, (method, path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == "webhook_endpoint_not_found"

        # Their own endpoint does not open a door to my delivery either.
        theirs = await other_api.post("/v1/webhook-endpoints", json={"url": receiver.url})
        their_id = theirs.json()["id"]
        retry = await other_api.post(
            f"/v1/webhook-endpoints/{their_id}/deliveries/{delivery_id}/retry"
        )
        assert retry.status_code == 404 and retry.json()["code"] == "webhook_delivery_not_found"
        assert retry.headers["content-type"] == "application/problem+json"

        assert (await api.get(f"/v1/webhook-endpoints/{endpoint_id}")).json() == endpoint_before
        assert (await api.get(deliveries)).json() == deliveries_before
        listed = (await other_api.get("/v1/webhook-endpoints")).json()["data"]
        assert [e["id"] for e in listed] == [their_id]
        assert [r.message_id for r in receiver.received] == [test.json()["message_id"]]
