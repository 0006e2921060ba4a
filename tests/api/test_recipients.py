"""Recipients over HTTP: add by email or user, edit, delete, reorder, sender first."""

from __future__ import annotations

from typing import Any

from tests.support import ApiClient


async def _ids(api: ApiClient, envelope_id: str) -> list[str]:
    envelope = await api.get_envelope(envelope_id)
    assert [r["position"] for r in envelope["recipients"]] == list(
        range(1, len(envelope["recipients"]) + 1)
    )
    return [r["id"] for r in envelope["recipients"]]


async def test_add_by_email_and_by_user(api: ApiClient) -> None:
    await api.put(
        "/v1/users/u1",
        json={"email": "u1@example.com", "first_name": "Una", "phone": "+33612345678"},
    )
    envelope = await api.envelope("approval")
    by_email = await api.add_recipient(
        envelope["id"], email="jim.agine@clic.fr", first_name="Jim", last_name="Agine"
    )
    by_user = await api.add_recipient(envelope["id"], user_id="u1", locale="en")
    assert by_email["role"] == "approver" and by_email["position"] == 1
    assert by_email["locale"] == "fr" and by_email["status"] == "waiting"
    assert by_user["email"] == "u1@example.com" and by_user["first_name"] == "Una"
    assert by_user["phone"] == "+33612345678" and by_user["locale"] == "en"
    assert by_user["position"] == 2


async def test_refusals(api: ApiClient) -> None:
    envelope = await api.envelope()
    url = f"/v1/envelopes/{envelope['id']}/recipients"
    await api.add_recipient(envelope["id"], email="dup@example.com")
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "/"),
        ({"email": "a@example.com", "user_id": "x"}, "/"),
        ({"email": "nope"}, "/email"),
        ({"user_id": "missing"}, "/user_id"),
        ({"email": "b@example.com", "phone": "0612345678"}, "/phone"),
        ({"email": "b@example.com", "phone": "+331"}, "/phone"),
        ({"email": "b@example.com", "locale": "de"}, "/locale"),
        ({"email": "b@example.com", "role": "approver"}, "/role"),
        ({"email": "DUP@example.com"}, "/email"),
    ]
    for body, pointer in cases:
        response = await api.post(url, json=body)
        assert response.status_code == 422, (body, response.text)
        assert pointer in [e["pointer"] for e in response.json()["errors"]], (body, response.json())
    assert len(await _ids(api, envelope["id"])) == 1


async def test_edit_and_delete_renumber(api: ApiClient) -> None:
    envelope = await api.envelope()
    first = await api.add_recipient(envelope["id"], email="a@example.com")
    await api.add_recipient(envelope["id"], email="b@example.com")
    third = await api.add_recipient(envelope["id"], email="c@example.com")
    edited = await api.patch(
        f"/v1/envelopes/{envelope['id']}/recipients/{third['id']}",
        json={"first_name": "Cé", "last_name": "Line", "phone": "+44 7911 123456", "locale": "en"},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["phone"] == "+447911123456" and edited.json()["first_name"] == "Cé"
    bad = await api.patch(
        f"/v1/envelopes/{envelope['id']}/recipients/{third['id']}", json={"email": "x@example.com"}
    )
    assert bad.status_code == 422
    deleted = await api.delete(f"/v1/envelopes/{envelope['id']}/recipients/{first['id']}")
    assert deleted.status_code == 204
    envelope_now = await api.get_envelope(envelope["id"])
    assert [r["email"] for r in envelope_now["recipients"]] == ["b@example.com", "c@example.com"]
    assert [r["position"] for r in envelope_now["recipients"]] == [1, 2]


async def test_reorder(api: ApiClient) -> None:
    envelope = await api.envelope()
    ids = [(await api.add_recipient(envelope["id"], email=f"{n}@example.com"))["id"] for n in "abc"]
    url = f"/v1/envelopes/{envelope['id']}/recipients/order"
    response = await api.put(url, json={"recipient_ids": [ids[2], ids[0], ids[1]]})
    assert response.status_code == 200, response.text
    assert [r["id"] for r in response.json()["recipients"]] == [ids[2], ids[0], ids[1]]
    assert await _ids(api, envelope["id"]) == [ids[2], ids[0], ids[1]]
    for bad in ([ids[0], ids[1]], [ids[0], ids[0], ids[1]], [*ids, ids[0]]):
        refused = await api.put(url, json={"recipient_ids": bad})
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["pointer"] == "/recipient_ids"
    assert await _ids(api, envelope["id"]) == [ids[2], ids[0], ids[1]]


async def test_sender_signs_first_always(api: ApiClient) -> None:
    envelope = await api.envelope(sender={"email": "boss@example.com", "first_name": "Bo"})
    other = await api.add_recipient(envelope["id"], email="a@example.com")
    patched = await api.patch(f"/v1/envelopes/{envelope['id']}", json={"sender_signs_first": True})
    recipients = patched.json()["recipients"]
    assert [(r["email"], r["is_sender"]) for r in recipients] == [
        ("boss@example.com", True),
        ("a@example.com", False),
    ]
    sender_id = recipients[0]["id"]
    url = f"/v1/envelopes/{envelope['id']}/recipients/order"
    refused = await api.put(url, json={"recipient_ids": [other["id"], sender_id]})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/recipient_ids/0"
    cannot_delete = await api.delete(f"/v1/envelopes/{envelope['id']}/recipients/{sender_id}")
    assert cannot_delete.status_code == 409
    # A new sender identity follows into the queue.
    renamed = await api.patch(
        f"/v1/envelopes/{envelope['id']}", json={"sender": {"email": "chief@example.com"}}
    )
    assert renamed.json()["recipients"][0]["email"] == "chief@example.com"
    added_later = await api.add_recipient(envelope["id"], email="z@example.com")
    assert added_later["position"] == 3
    off = await api.patch(f"/v1/envelopes/{envelope['id']}", json={"sender_signs_first": False})
    assert [r["email"] for r in off.json()["recipients"]] == ["a@example.com", "z@example.com"]
    assert [r["position"] for r in off.json()["recipients"]] == [1, 2]


async def test_sender_already_a_recipient_cannot_be_added_twice(api: ApiClient) -> None:
    envelope = await api.envelope(sender={"email": "boss@example.com"})
    await api.add_recipient(envelope["id"], email="boss@example.com")
    refused = await api.patch(f"/v1/envelopes/{envelope['id']}", json={"sender_signs_first": True})
    assert refused.status_code == 422
    assert refused.json()["code"] == "duplicate_recipient"
    assert refused.json()["errors"][0]["pointer"] == "/sender_signs_first"


async def test_phone_required_at_eidas_levels(api: ApiClient) -> None:
    envelope = await api.envelope(level="eidas_simple")
    recipient = await api.add_recipient(envelope["id"], email="a@example.com")
    blockers = (await api.get_envelope(envelope["id"]))["blockers"]
    phone = [b for b in blockers if b["code"] == "phone_missing"]
    assert phone == [
        {
            "code": "phone_missing",
            "detail": "a@example.com needs a mobile phone number at eIDAS levels",
            "pointer": "/recipients/0/phone",
            "document_id": None,
            "recipient_id": recipient["id"],
        }
    ]
    await api.patch(
        f"/v1/envelopes/{envelope['id']}/recipients/{recipient['id']}",
        json={"phone": "+33612345678"},
    )
    blockers = (await api.get_envelope(envelope["id"]))["blockers"]
    assert "phone_missing" not in [b["code"] for b in blockers]
