"""Decline, cancel, expiry, reminders and the rules every recipient action obeys."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.runtime import Runtime
from app.worker import sweep
from tests.support import ApiClient, make_pdf
from tests.support.sinks import MailSink, text_of
from tests.workflow.support import Recipient, approval_envelope, open_invitation, send


def _tag() -> str:
    return uuid.uuid4().hex[:8]


@contextmanager
def clock_moved(runtime: Runtime, delta: timedelta) -> Iterator[None]:
    """The service's clock, moved forward for the block and back afterwards."""
    runtime.clock.advance(delta)
    try:
        yield
    finally:
        runtime.clock.advance(-delta)


async def _events(api: ApiClient, envelope_id: str) -> list[str]:
    response = await api.get(f"/v1/envelopes/{envelope_id}/events")
    return [e["type"] for e in response.json()["data"]]


async def test_send_refuses_with_every_blocker_and_changes_nothing(api: ApiClient) -> None:
    approval = await api.envelope(kind="approval")
    response = await api.post(f"/v1/envelopes/{approval['id']}/send")
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "envelope_not_ready"
    assert [b["code"] for b in problem["blockers"]] == ["no_documents", "no_recipients"]
    assert (await api.get_envelope(approval["id"]))["status"] == "draft"

    # eidas_advanced compares each signer's names with their identity document: none, no send.
    signature = await api.envelope(kind="signature", level="eidas_advanced")
    await api.upload(signature["id"], make_pdf())
    await api.post(
        f"/v1/envelopes/{signature['id']}/recipients",
        json={"email": f"nameless+{_tag()}@example.com", "phone": "+33612345678"},
    )
    refused = await api.post(f"/v1/envelopes/{signature['id']}/send")
    codes = [b["code"] for b in refused.json()["blockers"]]
    assert "name_missing" in codes and "level_not_available" not in codes
    assert (await api.get_envelope(signature["id"]))["status"] == "draft"


async def test_send_twice_is_a_conflict_and_a_sent_envelope_is_frozen(api: ApiClient) -> None:
    envelope, _ = await approval_envelope(api, approvers=1, tag=_tag())
    await send(api, envelope["id"])
    again = await api.post(f"/v1/envelopes/{envelope['id']}/send")
    assert again.status_code == 409 and again.json()["code"] == "not_a_draft"
    edit = await api.patch(f"/v1/envelopes/{envelope['id']}", json={"name": "changed"})
    assert edit.status_code == 409


async def test_decline_ends_the_envelope_and_tells_the_sender(
    api: ApiClient, base_url: str, mail: MailSink
) -> None:
    tag = _tag()
    sender = f"sender{tag}@example.com"
    envelope, approvers = await approval_envelope(api, tag=tag, sender={"email": sender})
    await send(api, envelope["id"])
    async with open_invitation(base_url, mail, approvers[0]["email"]) as first:
        assert (await first.decline("")).status_code == 422  # a reason is required
        response = await first.decline("Les chiffres sont faux")
        assert response.status_code == 200, response.text
        again = await first.approve()
        assert again.status_code == 410 and again.json()["code"] == "envelope_ended"
    final = await api.get_envelope(envelope["id"])
    assert final["status"] == "declined"
    assert [r["status"] for r in final["recipients"]] == ["declined", "skipped", "skipped"]
    assert final["recipients"][0]["decline_reason"] == "Les chiffres sont faux"
    declined = (await mail.wait_for(sender))[0]
    assert "Les chiffres sont faux" in text_of(declined)
    assert mail.to(approvers[1]["email"]) == []
    events = await _events(api, envelope["id"])
    assert events.index("recipient.declined") + 1 == events.index("envelope.declined")


async def test_cancel_tells_those_invited_and_closes_every_link(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    tag = _tag()
    envelope, approvers = await approval_envelope(api, tag=tag)
    draft_cancel = await api.post(f"/v1/envelopes/{envelope['id']}/cancel")
    assert draft_cancel.status_code == 409
    await send(api, envelope["id"])
    async with open_invitation(base_url, mail, approvers[0]["email"]) as first:
        assert (await first.approve()).status_code == 200
    await mail.wait_for(approvers[1]["email"])
    response = await api.post(
        f"/v1/envelopes/{envelope['id']}/cancel", json={"reason": "Budget gelé"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "canceled" and body["cancel_reason"] == "Budget gelé"
    assert [r["status"] for r in body["recipients"]] == ["approved", "skipped", "skipped"]
    # Those who knew of the envelope are told; the third never heard of it and is not.
    for told in approvers[:2]:
        messages = await mail.wait_for(told["email"], count=2)
        assert "Budget gelé" in text_of(messages[-1])
    assert mail.to(approvers[2]["email"]) == []
    token = runtime.secrets.link_token(uuid.UUID(approvers[1]["id"]))
    async with Recipient(base_url=base_url) as second:
        opened = await second.open(token)
        assert opened.status_code == 410
    again = await api.post(f"/v1/envelopes/{envelope['id']}/cancel")
    assert again.status_code == 410


async def test_a_recipient_whose_turn_has_not_come_can_look_but_not_act(
    api: ApiClient, base_url: str, runtime: Runtime, mail: MailSink
) -> None:
    envelope, approvers = await approval_envelope(api, tag=_tag())
    early = runtime.secrets.link_token(uuid.UUID(approvers[1]["id"]))
    async with Recipient(base_url=base_url) as second:
        # Before sending no link works at all.
        assert (await second.open(early)).status_code == 404
        await send(api, envelope["id"])
        assert (await second.open(early)).status_code == 201
        view = await second.view()
        assert view["me"]["status"] == "waiting" and view["me"]["actions"] == []
        for action in (second.approve(), second.decline("trop tôt")):
            response = await action
            assert response.status_code == 409 and response.json()["code"] == "not_your_turn"
    # Opening early is not "opened": that is for the recipient whose turn it is.
    assert "recipient.opened" not in await _events(api, envelope["id"])
    assert mail.to(approvers[1]["email"]) == []


async def test_a_session_acts_for_its_own_recipient_only(
    api: ApiClient, base_url: str, mail: MailSink
) -> None:
    envelope, approvers = await approval_envelope(api, approvers=2, tag=_tag())
    await send(api, envelope["id"])
    async with open_invitation(base_url, mail, approvers[0]["email"]) as first:
        assert (await first.approve()).status_code == 200
        again = await first.approve()
        assert again.status_code == 409 and again.json()["code"] == "already_acted"
        assert (await first.view())["me"]["recipient_id"] == approvers[0]["id"]
    state = await api.get_envelope(envelope["id"])
    assert [r["status"] for r in state["recipients"]] == ["approved", "invited"]
    async with Recipient(base_url=base_url) as stranger:
        assert (await stranger.open("not-a-token")).status_code == 404
        stranger.headers["Authorization"] = "Bearer cachet_rs_forged"
        assert (await stranger.approve()).status_code == 401


async def test_fifty_simultaneous_approvals_of_one_step_yield_one_success(
    api: ApiClient, base_url: str, mail: MailSink
) -> None:
    envelope, approvers = await approval_envelope(api, approvers=2, tag=_tag())
    await send(api, envelope["id"])
    async with open_invitation(base_url, mail, approvers[0]["email"]) as first:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=base_url, headers=first.headers, limits=limits) as c:
            responses = await asyncio.gather(
                *(c.post("/v1/signing/approve", json={}) for _ in range(50))
            )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 49, statuses
    events = await _events(api, envelope["id"])
    assert events.count("recipient.approved") == 1
    assert events.count("recipient.invited") == 2
    await mail.wait_for(approvers[1]["email"])
    await asyncio.sleep(0.5)
    assert len(mail.to(approvers[1]["email"])) == 1


async def test_a_get_of_the_link_changes_nothing(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    """Mail scanners fetch links: only exchanging the token for a session records "opened"."""
    envelope, approvers = await approval_envelope(api, approvers=1, tag=_tag())
    await send(api, envelope["id"])
    token = runtime.secrets.link_token(uuid.UUID(approvers[0]["id"]))
    async with httpx.AsyncClient(base_url=base_url) as scanner:
        page = await scanner.get(f"/sign/{token}")
        assert page.status_code == 200 and "/assets/sign/sign.js" in page.text
        assert (await scanner.get("/sign/unknown-token")).status_code == 404
    assert (await api.get_envelope(envelope["id"]))["recipients"][0]["status"] == "invited"
    assert "recipient.opened" not in await _events(api, envelope["id"])


async def test_sessions_expire_after_thirty_idle_minutes(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    envelope, approvers = await approval_envelope(api, approvers=1, tag=_tag())
    await send(api, envelope["id"])
    async with open_invitation(base_url, mail, approvers[0]["email"]) as first:
        with clock_moved(runtime, timedelta(minutes=29)):
            assert (await first.get("/v1/signing/envelope")).status_code == 200
        # Used at +29 min, so idle only since then: +58 min is 29 idle minutes later.
        with clock_moved(runtime, timedelta(minutes=58)):
            assert (await first.get("/v1/signing/envelope")).status_code == 200
        with clock_moved(runtime, timedelta(minutes=89)):
            expired = await first.get("/v1/signing/envelope")
            assert expired.status_code == 401 and expired.json()["code"] == "session_expired"


async def test_manual_reminders_have_a_cooldown(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    envelope, approvers = await approval_envelope(api, approvers=2, tag=_tag())
    url = f"/v1/envelopes/{envelope['id']}/remind"
    assert (await api.post(url)).status_code == 409  # a draft has nobody to remind
    await send(api, envelope["id"])
    first = await api.post(url)
    assert first.status_code == 202, first.text
    assert first.json() == {"recipient_id": approvers[0]["id"], "reminder_count": 1}
    too_soon = await api.post(url)
    assert too_soon.status_code == 429 and too_soon.json()["code"] == "reminder_cooldown"
    assert 0 < int(too_soon.headers["Retry-After"]) <= 3600
    with clock_moved(runtime, timedelta(minutes=61)):
        assert (await api.post(url)).status_code == 202
    reminders = await mail.wait_for(approvers[0]["email"], count=3)
    assert len(reminders) == 3  # the invitation and two reminders
    assert mail.to(approvers[1]["email"]) == []


async def test_scheduled_reminders_follow_the_envelope_schedule(
    api: ApiClient, mail: MailSink, runtime: Runtime
) -> None:
    envelope, approvers = await approval_envelope(
        api, approvers=1, tag=_tag(), reminders={"interval_days": 2, "max_count": 2}
    )
    await send(api, envelope["id"])
    address = approvers[0]["email"]
    await mail.wait_for(address)
    counts = []
    for days in (1, 2, 3, 4, 6, 8):
        with clock_moved(runtime, timedelta(days=days, minutes=1)):
            await sweep(runtime, {})
        state = await api.get_envelope(envelope["id"])
        counts.append(state["recipients"][0]["reminder_count"])
    assert counts == [0, 1, 1, 2, 2, 2]
    await mail.wait_for(address, count=3)
    assert (await _events(api, envelope["id"])).count("recipient.reminded") == 2


async def test_an_envelope_expires_at_its_date(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    tag = _tag()
    sender = f"sender{tag}@example.com"
    expires_at = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    envelope, approvers = await approval_envelope(
        api, tag=tag, sender={"email": sender}, expires_at=expires_at
    )
    await send(api, envelope["id"])
    await sweep(runtime, {})
    assert (await api.get_envelope(envelope["id"]))["status"] == "in_progress"
    with clock_moved(runtime, timedelta(days=3, minutes=1)):
        await sweep(runtime, {})
    final: dict[str, Any] = await api.get_envelope(envelope["id"])
    assert final["status"] == "expired"
    assert [r["status"] for r in final["recipients"]] == ["skipped"] * 3
    await mail.wait_for(sender)
    await mail.wait_for(approvers[0]["email"], count=2)
    assert "envelope.expired" in await _events(api, envelope["id"])
