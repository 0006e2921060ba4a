"""Webhook deliveries end to end: the service's own worker posts to a real receiver on loopback
that verifies every arrival with the `standardwebhooks` package. Nothing is mocked; retries
follow the test schedule (five retries, 0.3 s apart), so every wait below is a bounded poll.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select, text

from app.config import Environment
from app.db import transaction
from app.runtime import Runtime
from app.webhooks.models import WebhookAttempt
from tests.support import ApiClient
from tests.support.polling import eventually
from tests.support.sinks import MailSink, Received, WebhookReceiver, webhook_receiver
from tests.workflow.support import approval_envelope, open_invitation, send

ENDPOINTS = "/v1/webhook-endpoints"
EMAIL_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Five retries after the first attempt: the schedule the session's settings configure.
ATTEMPTS_PER_MESSAGE = 6
MAX_PAYLOAD_BYTES = 20 * 1024


# --- helpers -------------------------------------------------------------------------------


async def register(api: ApiClient, url: str, **fields: Any) -> dict[str, Any]:
    response = await api.post(ENDPOINTS, json={"url": url, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@asynccontextmanager
async def registered_receiver(
    api: ApiClient, **fields: Any
) -> AsyncIterator[tuple[WebhookReceiver, dict[str, Any]]]:
    """A receiver on loopback, registered as an endpoint; it knows the secret from the start."""
    async with webhook_receiver() as receiver:
        endpoint = await register(api, receiver.url, **fields)
        receiver.secret = endpoint["secret"]
        yield receiver, endpoint


async def send_test(api: ApiClient, endpoint_id: str) -> dict[str, Any]:
    response = await api.post(f"{ENDPOINTS}/{endpoint_id}/test")
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def get_endpoint(api: ApiClient, endpoint_id: str) -> dict[str, Any]:
    response = await api.get(f"{ENDPOINTS}/{endpoint_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def deliveries(api: ApiClient, endpoint_id: str) -> list[dict[str, Any]]:
    """Every delivery of the endpoint, oldest (first created) first."""
    response = await api.get(f"{ENDPOINTS}/{endpoint_id}/deliveries", params={"limit": 200})
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))


async def settled_deliveries(
    api: ApiClient, endpoint_id: str, count: int, *, within: float = 20.0
) -> list[dict[str, Any]]:
    """Waits until the endpoint has `count` deliveries and none of them is pending."""
    return await eventually(
        lambda: deliveries(api, endpoint_id),
        lambda found: len(found) == count and all(d["status"] != "pending" for d in found),
        within=within,
        what=f"{count} settled deliveries",
    )


@dataclass
class FailFirstMessage:
    """A receiver script: the first message it sees fails with `status` while `failing`
    (and at most `times` times when given); every other message is accepted."""

    times: int | None = None
    status: int = 500
    failing: bool = True
    first: str | None = None
    failures: int = 0

    def __call__(self, arrival: Received) -> int:
        if self.first is None:
            self.first = arrival.message_id
        if arrival.message_id != self.first or not self.failing:
            return 200
        if self.times is not None and self.failures >= self.times:
            return 200
        self.failures += 1
        return self.status


def message_ids(received: list[Received]) -> list[str]:
    return [r.message_id for r in received]


# --- retries -------------------------------------------------------------------------------


async def test_a_message_failing_three_times_is_retried_with_the_same_id(api: ApiClient) -> None:
    """N failures then a success: exactly N+1 attempts, one webhook-id, each one verifiable."""
    async with registered_receiver(api) as (receiver, endpoint):
        receiver.respond = FailFirstMessage(times=3)
        queued = await send_test(api, endpoint["id"])

        await receiver.wait_until(lambda r: len(r.accepted()) == 1)
        [delivery] = await settled_deliveries(api, endpoint["id"], 1)

        assert [r.status for r in receiver.received] == [500, 500, 500, 200]
        assert set(message_ids(receiver.received)) == {queued["message_id"]}
        assert all(r.verified for r in receiver.received)
        # Each attempt is signed afresh: the timestamps never go backwards.
        stamps = [int(r.headers["webhook-timestamp"]) for r in receiver.received]
        assert stamps == sorted(stamps)
        assert delivery["id"] == queued["id"]
        assert delivery["status"] == "succeeded" and delivery["attempts"] == 4
        assert delivery["last_status_code"] == 200 and delivery["last_error"] is None
        assert delivery["next_attempt_at"] is None
        assert len(receiver.received) == 4  # nothing more after the success
        assert (await get_endpoint(api, endpoint["id"]))["failing_since"] is None


async def test_an_endpoint_receives_its_messages_in_creation_order(
    api: ApiClient, mail: MailSink
) -> None:
    """FIFO per endpoint: while the first message fails, nothing queued behind it goes out."""
    tag = uuid.uuid4().hex[:8]
    envelope, _ = await approval_envelope(api, approvers=1, tag=tag)
    async with registered_receiver(api) as (receiver, endpoint):
        script = FailFirstMessage()
        receiver.respond = script
        first = await send_test(api, endpoint["id"])
        await send(api, envelope["id"])  # envelope.sent, recipient.invited
        await send_test(api, endpoint["id"])
        await send_test(api, endpoint["id"])
        # Everything is queued; the head fails at least twice before it is let through.
        await receiver.wait_until(lambda r: len(r.received) >= 2, within=10)
        script.failing = False

        created = await settled_deliveries(api, endpoint["id"], 5)
        await receiver.wait_until(lambda r: len(r.accepted()) == 5)

        assert created[0]["id"] == first["id"]
        ids = message_ids(receiver.received)
        head_attempts = script.failures + 1
        assert 3 <= head_attempts < ATTEMPTS_PER_MESSAGE
        assert ids[:head_attempts] == [first["message_id"]] * head_attempts
        assert message_ids(receiver.accepted()) == [d["message_id"] for d in created]
        assert [d["event_type"] for d in created] == [
            "webhook.test",
            "envelope.sent",
            "recipient.invited",
            "webhook.test",
            "webhook.test",
        ]
        assert all(r.verified for r in receiver.received)
        assert created[0]["attempts"] == head_attempts
        assert [d["attempts"] for d in created[1:]] == [1, 1, 1, 1]


async def delivery_jobs(runtime: Runtime, endpoint_id: str) -> list[str]:
    """Statuses of the endpoint's delivery jobs still in the queue (queued or picked)."""
    async with transaction(runtime.sessions) as session:
        rows = await session.execute(
            text(
                "SELECT status::text FROM pgqueuer WHERE entrypoint = 'webhooks.deliver'"
                " AND convert_from(payload, 'UTF8') LIKE :endpoint"
            ),
            {"endpoint": f"%{endpoint_id}%"},
        )
        return [row[0] for row in rows]


async def test_jobs_finding_the_endpoint_busy_leave_and_the_holder_delivers_their_messages(
    api: ApiClient, runtime: Runtime
) -> None:
    """While one job holds the endpoint (its receiver answers slowly), the jobs of the messages
    created meanwhile leave at once, queueing nothing; the holder, once it lets go, looks again
    and delivers them, in order, each once."""
    async with registered_receiver(api) as (receiver, endpoint):
        receiver.gate = asyncio.Event()
        try:
            first = await send_test(api, endpoint["id"])
            await receiver.wait_until(lambda r: r.arriving == 1, within=10)
            later = [await send_test(api, endpoint["id"]) for _ in range(2)]
            # Their jobs ran and left: only the holder's job is still in the queue.
            await eventually(
                lambda: delivery_jobs(runtime, endpoint["id"]),
                lambda statuses: statuses == ["picked"],
                what=lambda statuses: f"jobs in the queue: {statuses}",
            )
            assert receiver.arriving == 1
        finally:
            receiver.gate.set()  # a held request would keep the receiver from stopping

        await receiver.wait_until(lambda r: len(r.accepted()) == 3, within=10)
        expected = [first["message_id"], *(m["message_id"] for m in later)]
        assert message_ids(receiver.received) == expected
        assert all(r.verified for r in receiver.received)
        await eventually(
            lambda: delivery_jobs(runtime, endpoint["id"]),
            lambda statuses: statuses == [],
            what=lambda statuses: f"jobs left behind: {statuses}",
        )


async def test_an_exhausted_schedule_fails_the_message_and_a_manual_retry_resends_it(
    api: ApiClient,
) -> None:
    async with registered_receiver(api) as (receiver, endpoint):
        script = FailFirstMessage()  # the first message is refused until told otherwise
        receiver.respond = script
        doomed = await send_test(api, endpoint["id"])
        retry_url = f"{ENDPOINTS}/{endpoint['id']}/deliveries/{doomed['id']}/retry"

        # Its schedule has barely started: a manual retry of a pending delivery is refused.
        pending = await api.post(retry_url)
        assert pending.status_code == 409, pending.text
        assert pending.headers["content-type"] == "application/problem+json"
        assert pending.json()["code"] == "delivery_pending"

        behind = await send_test(api, endpoint["id"])
        failed, delivered = await settled_deliveries(api, endpoint["id"], 2)
        await receiver.wait_until(lambda r: len(r.accepted()) == 1)

        assert failed["id"] == doomed["id"] and failed["status"] == "failed"
        assert failed["attempts"] == ATTEMPTS_PER_MESSAGE
        assert failed["last_status_code"] == 500 and failed["last_error"] == "HTTP 500"
        assert failed["next_attempt_at"] is None
        assert delivered["id"] == behind["id"] and delivered["status"] == "succeeded"
        # Six attempts at the head, then (only then) the message behind it.
        assert message_ids(receiver.received) == (
            [doomed["message_id"]] * ATTEMPTS_PER_MESSAGE + [behind["message_id"]]
        )
        # Seconds of failures are far from the five days that disable an endpoint.
        assert (await get_endpoint(api, endpoint["id"]))["enabled"] is True

        script.failing = False
        retried = await api.post(retry_url)
        assert retried.status_code == 202, retried.text
        assert retried.json()["status"] == "pending" and retried.json()["attempts"] == 0
        assert retried.json()["message_id"] == doomed["message_id"]
        await receiver.wait_until(lambda r: len(r.accepted()) == 2)
        resent = receiver.received[-1]
        assert resent.message_id == doomed["message_id"] and resent.verified
        assert resent.body == receiver.received[0].body
        after = {d["id"]: d for d in await settled_deliveries(api, endpoint["id"], 2)}
        assert after[doomed["id"]]["status"] == "succeeded"
        assert after[doomed["id"]]["attempts"] == 1

        # A delivered message can be sent again too, still under its own id.
        again = await api.post(f"{ENDPOINTS}/{endpoint['id']}/deliveries/{behind['id']}/retry")
        assert again.status_code == 202, again.text
        await receiver.wait_until(lambda r: len(r.accepted()) == 3)
        assert receiver.received[-1].message_id == behind["message_id"]
        assert receiver.received[-1].verified


# --- disabling -----------------------------------------------------------------------------


async def test_410_disables_the_endpoint_until_it_is_enabled_again(
    api: ApiClient, mail: MailSink
) -> None:
    tag = uuid.uuid4().hex[:8]
    envelope, _ = await approval_envelope(api, approvers=1, tag=tag)
    async with registered_receiver(api) as (receiver, endpoint):
        script = FailFirstMessage(status=410)
        receiver.respond = script
        gone = await send_test(api, endpoint["id"])
        disabled = await eventually(
            lambda: get_endpoint(api, endpoint["id"]),
            lambda e: e["enabled"] is False,
            what="the endpoint disabled",
        )
        assert disabled["disabled_reason"] and "410" in disabled["disabled_reason"]
        assert disabled["failing_since"] is not None

        # While disabled: a test message waits, and envelope events are not queued at all.
        waiting = await send_test(api, endpoint["id"])
        await send(api, envelope["id"])
        await asyncio.sleep(1.5)  # five retry intervals: time enough for a wrong attempt
        assert len(receiver.received) == 1
        queued = await deliveries(api, endpoint["id"])
        assert [d["id"] for d in queued] == [gone["id"], waiting["id"]]
        assert [d["status"] for d in queued] == ["pending", "pending"]
        assert [d["attempts"] for d in queued] == [1, 0]
        assert queued[0]["last_status_code"] == 410

        script.failing = False
        enabled = await api.patch(f"{ENDPOINTS}/{endpoint['id']}", json={"enabled": True})
        assert enabled.status_code == 200, enabled.text
        assert enabled.json()["enabled"] is True
        assert enabled.json()["disabled_reason"] is None
        assert enabled.json()["failing_since"] is None

        await receiver.wait_until(lambda r: len(r.accepted()) == 2)
        assert message_ids(receiver.received) == [
            gone["message_id"],
            gone["message_id"],
            waiting["message_id"],
        ]
        assert all(r.verified for r in receiver.received)
        settled = await settled_deliveries(api, endpoint["id"], 2)
        assert [d["status"] for d in settled] == ["succeeded", "succeeded"]


async def test_five_days_of_failures_disable_the_endpoint(api: ApiClient, runtime: Runtime) -> None:
    """The service clock jumps six days between the first failed attempt and the second."""
    jumped = timedelta(0)

    def fail_and_jump(arrival: Received) -> int:
        nonlocal jumped
        if not jumped:
            # The first attempt read the clock before posting; its retry reads it after this.
            jumped = timedelta(days=6)
            runtime.clock.advance(jumped)
        return 500

    try:
        async with registered_receiver(api) as (receiver, endpoint):
            receiver.respond = fail_and_jump
            queued = await send_test(api, endpoint["id"])
            disabled = await eventually(
                lambda: get_endpoint(api, endpoint["id"]),
                lambda e: e["enabled"] is False,
                what="the endpoint disabled",
            )
            assert disabled["disabled_reason"] == "every attempt failed for 5 days"
            assert disabled["failing_since"] is not None
            [delivery] = await deliveries(api, endpoint["id"])
            assert delivery["id"] == queued["id"] and delivery["attempts"] == 2
            assert delivery["status"] == "pending"  # not failed: it waits for a re-enable
            assert len(receiver.received) == 2
            assert {r.message_id for r in receiver.received} == {queued["message_id"]}
    finally:
        runtime.clock.advance(-jumped)


# --- production rules at delivery time -----------------------------------------------------


@asynccontextmanager
async def tcp_listener() -> AsyncIterator[tuple[int, list[str]]]:
    """A bare TCP listener on loopback that records every connection made to it."""
    connections: list[str] = []

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(str(writer.get_extra_info("peername")))
        writer.close()

    server = await asyncio.start_server(accepted, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    async with server:
        yield port, connections


async def test_production_refuses_at_delivery_an_endpoint_registered_in_development(
    api: ApiClient, runtime: Runtime
) -> None:
    """The SSRF guard runs again at every attempt: what development accepted at registration
    (plain http, a loopback address) is refused once the service runs in production."""
    async with tcp_listener() as (port, connections):
        plain = await register(api, f"http://127.0.0.1:{port}/hook")
        tls = await register(api, f"https://127.0.0.1:{port}/hook")
        original = runtime.settings.env
        runtime.settings.env = Environment.production
        try:
            refused = {}
            for endpoint in (plain, tls):
                queued = await send_test(api, endpoint["id"])
                [delivery] = await eventually(
                    partial(deliveries, api, endpoint["id"]),
                    lambda found: found[0]["attempts"] >= 1,
                    what="an attempt",
                )
                assert delivery["id"] == queued["id"]
                assert delivery["last_status_code"] is None
                refused[endpoint["id"]] = delivery
            assert refused[plain["id"]]["last_error"].startswith("scheme_not_allowed")
            assert refused[tls["id"]]["last_error"].startswith("address_not_allowed")
            async with transaction(runtime.sessions) as session:
                attempts = (
                    await session.scalars(
                        select(WebhookAttempt).where(
                            WebhookAttempt.delivery_id.in_([d["id"] for d in refused.values()])
                        )
                    )
                ).all()
            assert attempts and all(a.error and a.status_code is None for a in attempts)
            assert connections == []
        finally:
            for endpoint in (plain, tls):  # deleted before development rules come back
                assert (await api.delete(f"{ENDPOINTS}/{endpoint['id']}")).status_code == 204
            runtime.settings.env = original
        assert connections == []


# --- the test event, email.failed, payloads ------------------------------------------------


async def test_the_test_event_reaches_the_receiver_signed(api: ApiClient) -> None:
    async with registered_receiver(api) as (receiver, endpoint):
        response = await api.post(f"{ENDPOINTS}/{endpoint['id']}/test")
        assert response.status_code == 202, response.text
        queued = response.json()
        assert queued["event_type"] == "webhook.test" and queued["event_id"] is None
        assert queued["status"] == "pending" and queued["message_id"].startswith("msg_")

        await receiver.wait_until(lambda r: len(r.accepted()) == 1)
        [arrival] = receiver.received
        assert arrival.verified
        assert arrival.message_id == queued["message_id"]
        assert arrival.headers["content-type"] == "application/json"
        assert arrival.json["type"] == "webhook.test"
        assert arrival.json["data"] == {"endpoint_id": endpoint["id"]}
        datetime.fromisoformat(arrival.json["timestamp"])


async def test_a_refused_invitation_is_reported_as_email_failed(
    api: ApiClient, mail: MailSink
) -> None:
    tag = uuid.uuid4().hex[:8]
    envelope, approvers = await approval_envelope(api, approvers=2, tag=tag)
    refused = approvers[0]["email"].lower()
    mail.refuse.add(refused)
    try:
        async with registered_receiver(api) as (receiver, _):
            await send(api, envelope["id"])
            await receiver.wait_until(lambda r: "email.failed" in r.types())
    finally:
        mail.refuse.discard(refused)

    assert receiver.types() == ["envelope.sent", "recipient.invited", "email.failed"]
    assert all(r.verified for r in receiver.received)
    failed = receiver.accepted()[-1].json
    assert failed["data"]["envelope_id"] == envelope["id"]
    assert failed["data"]["kind"] == "invitation"
    assert failed["data"]["recipient_id"] == approvers[0]["id"]
    assert refused not in receiver.accepted()[-1].body.decode()

    current = await api.get_envelope(envelope["id"])
    assert current["status"] == "in_progress"
    assert [r["status"] for r in current["recipients"]] == ["invited", "waiting"]
    assert mail.to(refused) == []
    events = (await api.get(f"/v1/envelopes/{envelope['id']}/events")).json()["data"]
    [event] = [e for e in events if e["type"] == "email.failed"]
    assert event["data"]["kind"] == "invitation"
    assert event["data"]["notification_id"] == failed["data"]["notification_id"]
    assert event["sequence"] == failed["data"]["sequence"]


async def test_payloads_are_thin_and_carry_no_email_address(
    api: ApiClient, base_url: str, mail: MailSink
) -> None:
    tag = uuid.uuid4().hex[:8]
    async with registered_receiver(api) as (receiver, _):
        envelope, approvers = await approval_envelope(
            api,
            approvers=1,
            tag=tag,
            sender={"email": f"sender{tag}@example.com", "first_name": "Jim"},
            message="Questions? Write to help@example.com " + "x" * 1500,
        )
        await send(api, envelope["id"])
        async with open_invitation(base_url, mail, approvers[0]["email"]) as recipient:
            response = await recipient.approve(comment=f"ok, cc boss{tag}@example.com")
            assert response.status_code == 200, response.text
        await receiver.wait_until(lambda r: "envelope.completed" in r.types())

    events = (await api.get(f"/v1/envelopes/{envelope['id']}/events")).json()["data"]
    type_of = {e["sequence"]: e["type"] for e in events}
    assert receiver.types() == [
        "envelope.sent",
        "recipient.invited",
        "recipient.opened",
        "recipient.approved",
        "envelope.completed",
    ]
    for arrival in receiver.received:
        assert arrival.verified
        assert len(arrival.body) <= MAX_PAYLOAD_BYTES
        assert EMAIL_ADDRESS.search(arrival.body.decode()) is None, arrival.body
        payload = arrival.json
        assert set(payload) == {"type", "timestamp", "data"}
        assert datetime.fromisoformat(payload["timestamp"]).tzinfo is not None
        data = payload["data"]
        assert data["envelope_id"] == envelope["id"]
        assert type_of[data["sequence"]] == payload["type"]
        assert set(data) <= {"envelope_id", "sequence", "recipient_id", "document_id", "kind"}
        if payload["type"].startswith("recipient."):
            assert data["recipient_id"] == approvers[0]["id"]


async def test_enabling_an_endpoint_again_retries_its_waiting_head_at_once(
    api: ApiClient, runtime: Runtime
) -> None:
    """A head waiting an hour for its next retry goes as soon as the endpoint is re-enabled."""
    schedule = runtime.settings.webhook_retry_schedule
    runtime.settings.webhook_retry_schedule = "1h"
    try:
        async with registered_receiver(api) as (receiver, endpoint):
            script = FailFirstMessage(times=1)
            receiver.respond = script
            head = await send_test(api, endpoint["id"])
            waiting = await eventually(
                lambda: deliveries(api, endpoint["id"]),
                lambda found: found[0]["attempts"] == 1,
                what="the first attempt",
            )
            assert waiting[0]["status"] == "pending"
            url = f"{ENDPOINTS}/{endpoint['id']}"
            assert (await api.patch(url, json={"enabled": False})).status_code == 200
            assert (await api.patch(url, json={"enabled": True})).status_code == 200
            settled = await settled_deliveries(api, endpoint["id"], 1, within=10)
            assert settled[0]["status"] == "succeeded" and settled[0]["attempts"] == 2
            assert message_ids(receiver.received) == [head["message_id"]] * 2
    finally:
        runtime.settings.webhook_retry_schedule = schedule
