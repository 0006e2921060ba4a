"""Stamps over HTTP: placement rules, one per signer per document, readiness badges."""

from __future__ import annotations

from typing import Any

from tests.support import ApiClient, make_pdf


async def _signature_envelope(api: ApiClient, **fields: Any) -> tuple[str, list[str], list[str]]:
    envelope = await api.envelope(**fields)
    docs = []
    for pdf in (make_pdf(2), make_pdf(1, rotate=90)):
        response = await api.upload(envelope["id"], pdf)
        assert response.status_code == 201, response.text
        docs.append(response.json()["id"])
    signers = [
        (await api.add_recipient(envelope["id"], email=f"{n}@example.com"))["id"] for n in "ab"
    ]
    return envelope["id"], docs, signers


def _box(**changes: Any) -> dict[str, Any]:
    return {"page": 1, "x": 50, "y": 700, "width": 150, "height": 50, **changes}


async def test_badges_go_from_pending_to_complete(api: ApiClient) -> None:
    envelope_id, docs, signers = await _signature_envelope(api)
    envelope = await api.get_envelope(envelope_id)
    assert [d["stamps"] for d in envelope["documents"]] == ["pending", "pending"]
    assert len([b for b in envelope["blockers"] if b["code"] == "stamp_missing"]) == 4
    for doc in docs:
        for index, signer in enumerate(signers):
            url = f"/v1/envelopes/{envelope_id}/documents/{doc}/stamps/{signer}"
            response = await api.put(url, json=_box(x=50 + index * 200, y=300))
            assert response.status_code == 201, response.text
        envelope = await api.get_envelope(envelope_id)
        statuses = {d["id"]: d["stamps"] for d in envelope["documents"]}
        assert statuses[doc] == "complete"
    # Every stamp is placed: nothing holds the envelope back any more.
    assert envelope["blockers"] == []
    # A new signer makes every document pending again.
    await api.add_recipient(envelope_id, email="c@example.com")
    envelope = await api.get_envelope(envelope_id)
    assert [d["stamps"] for d in envelope["documents"]] == ["pending", "pending"]
    assert envelope["ready_to_send"] is False


async def test_put_again_moves_the_one_stamp(api: ApiClient) -> None:
    envelope_id, docs, signers = await _signature_envelope(api)
    url = f"/v1/envelopes/{envelope_id}/documents/{docs[0]}/stamps/{signers[0]}"
    assert (await api.put(url, json=_box())).status_code == 201
    moved = await api.put(
        url, json=_box(page=2, x=10, y=10, style="with_text", text="Lu et approuvé")
    )
    assert moved.status_code == 200
    document = (await api.get_envelope(envelope_id))["documents"][0]
    assert document["stamp_placements"] == [
        {
            "recipient_id": signers[0],
            "page": 2,
            "x": 10.0,
            "y": 10.0,
            "width": 150.0,
            "height": 50.0,
            "style": "with_text",
            "text": "Lu et approuvé",
        }
    ]
    assert (await api.delete(url)).status_code == 204
    assert (await api.delete(url)).status_code == 404
    assert (await api.get_envelope(envelope_id))["documents"][0]["stamp_placements"] == []


async def test_refusals_point_at_the_field(api: ApiClient) -> None:
    envelope_id, docs, signers = await _signature_envelope(api)
    taken = f"/v1/envelopes/{envelope_id}/documents/{docs[0]}/stamps/{signers[1]}"
    assert (await api.put(taken, json=_box(x=300, y=100))).status_code == 201
    url = f"/v1/envelopes/{envelope_id}/documents/{docs[0]}/stamps/{signers[0]}"
    rotated = f"/v1/envelopes/{envelope_id}/documents/{docs[1]}/stamps/{signers[0]}"
    cases = [
        (url, _box(page=3), "/page"),
        (url, _box(page=0), "/page"),
        (url, _box(x=500), "/x"),
        (url, _box(y=800), "/y"),
        (url, _box(width=84), "/width"),
        (url, _box(height=36), "/height"),
        (url, _box(x=350, y=120), "/x"),  # overlaps signer b's stamp
        (url, _box(text="hello"), "/text"),
        (url, _box(style="with_text", text="x" * 61), "/text"),
        (url, _box(style="fancy"), "/style"),
        (url, _box(page="one"), "/page"),
        (url, {**_box(), "rotation": 90}, "/rotation"),
        # The rotated A4 page is displayed 841.89 wide and 595.28 high.
        (rotated, _box(x=0, y=560), "/y"),
    ]
    for target, body, pointer in cases:
        response = await api.put(target, json=body)
        assert response.status_code == 422, (body, response.text)
        assert pointer in [e["pointer"] for e in response.json()["errors"]], (body, response.json())
    fits_rotated = await api.put(rotated, json=_box(x=650, y=500))
    assert fits_rotated.status_code == 201, fits_rotated.text


async def test_text_is_refused_at_eidas_levels(api: ApiClient) -> None:
    envelope_id, docs, signers = await _signature_envelope(api, level="eidas_advanced")
    url = f"/v1/envelopes/{envelope_id}/documents/{docs[0]}/stamps/{signers[0]}"
    response = await api.put(url, json=_box(style="with_text", text="Bon pour accord"))
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "pointer": "/style",
        "detail": "stamps with text are not available at eIDAS levels",
    }
    assert (await api.put(url, json=_box())).status_code == 201


async def test_switching_to_eidas_flags_text_stamps(api: ApiClient) -> None:
    envelope_id, docs, signers = await _signature_envelope(api)
    url = f"/v1/envelopes/{envelope_id}/documents/{docs[0]}/stamps/{signers[0]}"
    await api.put(url, json=_box(style="with_text", text="OK"))
    envelope = (
        await api.patch(f"/v1/envelopes/{envelope_id}", json={"level": "eidas_simple"})
    ).json()
    flagged = [b for b in envelope["blockers"] if b["code"] == "stamp_text_not_allowed"]
    assert [(b["document_id"], b["recipient_id"]) for b in flagged] == [(docs[0], signers[0])]


async def test_recipient_must_be_a_signer_of_this_envelope(api: ApiClient) -> None:
    envelope_id, docs, _ = await _signature_envelope(api)
    other = await api.envelope()
    stranger = await api.add_recipient(other["id"], email="s@example.com")
    url = f"/v1/envelopes/{envelope_id}/documents/{docs[0]}/stamps/{stranger['id']}"
    response = await api.put(url, json=_box())
    assert response.status_code == 422
    assert response.json()["code"] == "recipient_not_signer"


async def test_approval_envelopes_have_no_stamps(api: ApiClient) -> None:
    envelope = await api.envelope("approval")
    document = (await api.upload(envelope["id"], b"any bytes", filename="notes.txt")).json()
    approver = await api.add_recipient(envelope["id"], email="a@example.com")
    url = f"/v1/envelopes/{envelope['id']}/documents/{document['id']}/stamps/{approver['id']}"
    response = await api.put(url, json=_box())
    assert response.status_code == 409 and response.json()["code"] == "stamps_not_applicable"
    envelope_now = await api.get_envelope(envelope["id"])
    assert envelope_now["documents"][0]["stamps"] is None
    assert envelope_now["ready_to_send"] is True


async def test_deleting_a_signer_removes_their_stamps(api: ApiClient) -> None:
    envelope_id, docs, signers = await _signature_envelope(api)
    for doc in docs:
        await api.put(
            f"/v1/envelopes/{envelope_id}/documents/{doc}/stamps/{signers[0]}", json=_box()
        )
    await api.delete(f"/v1/envelopes/{envelope_id}/recipients/{signers[0]}")
    envelope = await api.get_envelope(envelope_id)
    assert all(d["stamp_placements"] == [] for d in envelope["documents"])
