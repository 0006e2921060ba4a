"""An approval envelope from creation to completion through real HTTP, SMTP and webhooks."""

from __future__ import annotations

import uuid
from typing import Any

from app.db import transaction
from app.evidence.service import verify_envelope_chain
from app.runtime import Runtime
from tests.support import ApiClient
from tests.support.polling import eventually
from tests.support.sinks import MailSink, WebhookReceiver, html_of, text_of, webhook_receiver
from tests.workflow.support import approval_envelope, open_invitation, send

EXPECTED_WEBHOOKS = [
    "envelope.sent",
    "recipient.invited",
    "recipient.opened",
    "recipient.approved",
    "recipient.invited",
    "recipient.opened",
    "recipient.approved",
    "recipient.invited",
    "recipient.opened",
    "recipient.approved",
    "envelope.completed",
]


async def test_three_approvers_complete_an_envelope_in_order(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    tag = uuid.uuid4().hex[:8]
    async with webhook_receiver() as receiver:
        endpoint = await api.post("/v1/webhook-endpoints", json={"url": receiver.url})
        assert endpoint.status_code == 201, endpoint.text
        receiver.secret = endpoint.json()["secret"]
        sender = f"sender{tag}@example.com"
        envelope, approvers = await approval_envelope(
            api,
            tag=tag,
            sender={"email": sender, "first_name": "Jim", "last_name": "Agine"},
            message="Merci de valider",
            sender_copy=True,
            distribute_to_signers=True,
        )
        envelope_id = envelope["id"]
        preview = (await api.get(f"/v1/envelopes/{envelope_id}/preview")).json()
        assert [line["email"] for line in preview["recipients"]] == [a["email"] for a in approvers]

        sent = await send(api, envelope_id, **{"Idempotency-Key": f"send-{tag}"})
        assert sent["status"] == "in_progress"
        assert [r["status"] for r in sent["recipients"]] == ["invited", "waiting", "waiting"]
        replay = await api.post(
            f"/v1/envelopes/{envelope_id}/send", headers={"Idempotency-Key": f"send-{tag}"}
        )
        assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"

        for index, approver in enumerate(approvers):
            # Nobody after the current approver has been emailed yet.
            for later in approvers[index + 1 :]:
                assert mail.to(later["email"]) == []
            async with open_invitation(base_url, mail, approver["email"]) as recipient:
                view = await recipient.view()
                assert view["me"]["actions"] == ["approve", "decline"]
                response = await recipient.approve(comment=f"ok {index + 1}")
                assert response.status_code == 200, response.text

        invitation = mail.to(approvers[0]["email"])[0]
        assert invitation["Subject"] == preview["invitation"]["subject"]
        assert text_of(invitation).strip() == preview["invitation"]["text"].strip()
        assert html_of(invitation).strip() == preview["invitation"]["html"].strip()

        final = await api.get_envelope(envelope_id)
        assert final["status"] == "completed" and final["ended_at"] is not None
        assert [r["status"] for r in final["recipients"]] == ["approved"] * 3
        assert [r["comment"] for r in final["recipients"]] == ["ok 1", "ok 2", "ok 3"]

        # sender_copy: the sender hears of it; distribute_to_signers: each approver too.
        await mail.wait_for(sender)
        for approver in approvers:
            await mail.wait_for(approver["email"], count=2)

        await receiver.wait_until(lambda r: "envelope.completed" in r.types())
        _check_deliveries(receiver, envelope_id)

        events = (await api.get(f"/v1/envelopes/{envelope_id}/events")).json()["data"]
        types = [e["type"] for e in events]
        assert types[:2] == ["envelope.created", "document.added"]
        assert [t for t in types if t in EXPECTED_WEBHOOKS] == EXPECTED_WEBHOOKS
        assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
        opened = next(e for e in events if e["type"] == "recipient.opened")
        assert opened["ip"] == "127.0.0.1" and opened["user_agent"].startswith("python-httpx")
        added = next(e for e in events if e["type"] == "document.added")
        assert len(added["data"]["sha256"]) == 64
        async with transaction(runtime.sessions) as session:
            chain = await verify_envelope_chain(session, uuid.UUID(envelope_id), runtime.secrets)
            assert chain is None


async def _settled_events(api: ApiClient, envelope_id: str) -> list[dict[str, Any]]:
    """The envelope's events once its jobs are done: sealed, and no email left to send."""

    async def read() -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = (await api.get(f"/v1/envelopes/{envelope_id}/events")).json()[
            "data"
        ]
        return data

    def settled(events: list[dict[str, Any]]) -> bool:
        types = [e["type"] for e in events]
        invitations_sent = types.count("email.sent") >= types.count("recipient.invited")
        return "evidence.sealed" in types and invitations_sent

    return await eventually(read, settled, within=60)


def _check_deliveries(receiver: WebhookReceiver, envelope_id: str) -> None:
    mine = [r for r in receiver.accepted() if r.json["data"].get("envelope_id") == envelope_id]
    assert all(r.verified for r in mine)
    assert [r.json["type"] for r in mine] == EXPECTED_WEBHOOKS
    sequences = [r.json["data"]["sequence"] for r in mine]
    assert sequences == sorted(sequences)
    assert len({r.message_id for r in mine}) == len(mine)


async def test_the_tenant_feed_pages_through_every_event_in_a_stable_order(
    api: ApiClient, base_url: str, mail: MailSink
) -> None:
    tag = uuid.uuid4().hex[:8]
    envelope, approvers = await approval_envelope(api, approvers=1, tag=tag)
    await send(api, envelope["id"])
    async with open_invitation(base_url, mail, approvers[0]["email"]) as recipient:
        assert (await recipient.approve()).status_code == 200
    expected = await _settled_events(api, envelope["id"])

    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["after"] = cursor
        page = (await api.get("/v1/events", params=params)).json()
        seen += [e["id"] for e in page["data"]]
        cursor = page["next_cursor"]
        if not page["data"]:
            break
    assert seen == [e["id"] for e in expected]
    # Polling again from the last cursor gives nothing new, and a bad cursor is a 400.
    assert (await api.get("/v1/events", params={"after": cursor})).json()["data"] == []
    bad = await api.get("/v1/events", params={"after": "bm90LWEtY3Vyc29y"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_cursor"
