"""Embedded signing over the API: a signing link for the recipient whose turn it is, and
recipients whose platform delivers the link itself (delivery "none": no invitation email)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from app.runtime import Runtime
from app.worker import sweep
from tests.support import ApiClient
from tests.support.sinks import MailSink
from tests.workflow.support import Recipient, approval_envelope, send
from tests.workflow.test_lifecycle import clock_moved


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _link_path(envelope_id: str, recipient_id: str) -> str:
    return f"/v1/envelopes/{envelope_id}/recipients/{recipient_id}/signing-link"


async def test_a_signing_link_for_the_recipient_whose_turn_it_is(
    api: ApiClient, base_url: str, runtime: Runtime
) -> None:
    envelope, approvers = await approval_envelope(api, approvers=2, tag=_tag())
    sent = await send(api, envelope["id"])

    created = await api.post(_link_path(envelope["id"], approvers[0]["id"]))

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["expires_at"] is not None and body["expires_at"][:19] == sent["expires_at"][:19]
    token = urlsplit(body["url"]).path.rsplit("/", 1)[-1]
    assert body["url"] == runtime.settings.signing_link_template.replace("{token}", token)
    async with Recipient(base_url=base_url) as recipient:  # the link opens a session
        opened = await recipient.open(token)
        assert opened.status_code == 201, opened.text
        assert opened.json()["recipient_id"] == approvers[0]["id"]
    events = (await api.get(f"/v1/envelopes/{envelope['id']}/events")).json()["data"]
    issued = [e for e in events if e["type"] == "recipient.link_issued"]
    assert [e["data"]["recipient_id"] for e in issued] == [approvers[0]["id"]]
    assert issued[0]["actor"]["kind"] == "api_key"  # the platform asked, not the signer


async def test_no_signing_link_for_a_recipient_whose_turn_it_is_not(api: ApiClient) -> None:
    envelope, approvers = await approval_envelope(api, approvers=2, tag=_tag())
    draft = await api.post(_link_path(envelope["id"], approvers[0]["id"]))
    assert draft.status_code == 409 and draft.json()["code"] == "envelope_not_in_progress"
    await send(api, envelope["id"])

    later = await api.post(_link_path(envelope["id"], approvers[1]["id"]))

    assert later.status_code == 409, later.text
    assert later.headers["content-type"].startswith("application/problem+json")
    assert later.json()["code"] == "not_your_turn"


async def test_another_tenants_envelope_or_an_unknown_recipient_is_404(
    api: ApiClient, other_api: ApiClient
) -> None:
    envelope, approvers = await approval_envelope(api, approvers=1, tag=_tag())
    await send(api, envelope["id"])

    foreign = await other_api.post(_link_path(envelope["id"], approvers[0]["id"]))
    unknown = await api.post(_link_path(envelope["id"], str(uuid.uuid4())))

    assert foreign.status_code == 404, foreign.text
    assert unknown.status_code == 404 and unknown.json()["code"] == "recipient_not_found"


async def test_malformed_ids_and_delivery_values_are_422(api: ApiClient) -> None:
    envelope, approvers = await approval_envelope(api, approvers=1, tag=_tag())

    bad_id = await api.post(_link_path(envelope["id"], "not-a-uuid"))
    bad_delivery = await api.post(
        f"/v1/envelopes/{envelope['id']}/recipients",
        json={"email": f"x{_tag()}@example.com", "delivery": "carrier pigeon"},
    )
    null_delivery = await api.patch(
        f"/v1/envelopes/{envelope['id']}/recipients/{approvers[0]['id']}", json={"delivery": None}
    )

    for response in (bad_id, bad_delivery, null_delivery):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_delivery_none_sends_no_invitation_but_the_next_recipient_is_emailed(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    tag = _tag()
    envelope = await api.envelope(
        kind="approval", name=f"Embedded {tag}", reminders={"interval_days": 1, "max_count": 2}
    )
    uploaded = await api.upload(envelope["id"], b"figures\n", filename="f.txt")
    assert uploaded.status_code == 201, uploaded.text
    embedded = await api.add_recipient(
        envelope["id"], email=f"embedded{tag}@example.com", delivery="none"
    )
    emailed = await api.add_recipient(envelope["id"], email=f"emailed{tag}@example.com")
    assert embedded["delivery"] == "none" and emailed["delivery"] == "email"
    preview = (await api.get(f"/v1/envelopes/{envelope['id']}/preview")).json()
    assert preview["invitation"] is None  # the first one is not emailed
    await send(api, envelope["id"])

    remind = await api.post(f"/v1/envelopes/{envelope['id']}/remind")
    assert remind.status_code == 202, remind.text
    link = (await api.post(_link_path(envelope["id"], embedded["id"]))).json()["url"]
    async with Recipient(base_url=base_url) as recipient:
        assert (await recipient.open(link.rsplit("/", 1)[-1])).status_code == 201
        assert (await recipient.approve()).status_code == 200

    await mail.wait_for(emailed["email"])  # the next one is invited by email, as usual
    await asyncio.sleep(0.5)  # the email job of the first invitation, had there been one
    assert mail.to(embedded["email"]) == []
    shown = await api.get_envelope(envelope["id"])
    assert [r["status"] for r in shown["recipients"]] == ["approved", "invited"]


async def test_delivery_none_has_no_scheduled_reminders(api: ApiClient, runtime: Runtime) -> None:
    envelope = await api.envelope(
        kind="approval", name=f"Quiet {_tag()}", reminders={"interval_days": 1, "max_count": 3}
    )
    uploaded = await api.upload(envelope["id"], b"figures\n", filename="f.txt")
    assert uploaded.status_code == 201, uploaded.text
    await api.add_recipient(envelope["id"], email=f"quiet{_tag()}@example.com", delivery="none")
    await send(api, envelope["id"])

    with clock_moved(runtime, timedelta(days=2, minutes=1)):
        await sweep(runtime, {})

    shown = await api.get_envelope(envelope["id"])
    assert shown["recipients"][0]["reminder_count"] == 0
    events = (await api.get(f"/v1/envelopes/{envelope['id']}/events")).json()["data"]
    assert "recipient.reminded" not in [e["type"] for e in events]
