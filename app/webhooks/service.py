"""Webhook endpoints of a tenant, and the deliveries an event fans out to."""

from __future__ import annotations

import json
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import SessionTransaction

from app.crypto import SecretBox
from app.errors import Conflict, NotFound
from app.evidence.models import Event
from app.jobs.queue import enqueue
from app.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from app.webhooks.schemas import WEBHOOK_EVENTS
from app.webhooks.signatures import new_message_id, new_secret

DELIVER = "webhooks.deliver"
TEST_EVENT = "webhook.test"

# Event data worth putting in a thin payload: identifiers, never personal data.
PAYLOAD_DATA_KEYS = ("recipient_id", "document_id", "notification_id", "kind")


def event_payload(event: Event) -> bytes:
    data: dict[str, Any] = {"envelope_id": str(event.envelope_id), "sequence": event.sequence}
    data.update({key: event.data[key] for key in PAYLOAD_DATA_KEYS if key in event.data})
    return _payload(event.type, event.occurred_at, data)


def _payload(type: str, timestamp: datetime, data: dict[str, Any]) -> bytes:
    body = {"type": type, "timestamp": timestamp.isoformat(), "data": data}
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass
class _FanOut:
    """What one transaction's fan-outs share: the tenant's endpoints, read once, and the
    endpoints already woken (one job drains every delivery this transaction commits)."""

    endpoints: dict[uuid.UUID, list[WebhookEndpoint]] = field(default_factory=dict)
    woken: set[uuid.UUID] = field(default_factory=set)


_fan_outs: weakref.WeakKeyDictionary[SessionTransaction, _FanOut] = weakref.WeakKeyDictionary()


def _fan_out_state(session: AsyncSession) -> _FanOut:
    transaction = session.sync_session.get_transaction()
    assert transaction is not None, "events are fanned out inside a transaction"
    return _fan_outs.setdefault(transaction, _FanOut())


async def _enabled_endpoints(
    session: AsyncSession, state: _FanOut, tenant_id: uuid.UUID
) -> list[WebhookEndpoint]:
    if tenant_id not in state.endpoints:
        found = await session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.enabled.is_(True)
            )
        )
        state.endpoints[tenant_id] = list(found)
    return state.endpoints[tenant_id]


async def fan_out(session: AsyncSession, event: Event, *, now: datetime) -> None:
    """One delivery per subscribed endpoint, written and enqueued with the event itself.

    Nothing is flushed here: the event and its deliveries go in the transaction's next flush
    (at the latest, its commit), batched with the other events of the same step."""
    if event.type not in WEBHOOK_EVENTS:
        return
    state = _fan_out_state(session)
    body = event_payload(event)
    for endpoint in await _enabled_endpoints(session, state, event.tenant_id):
        if endpoint.event_types and event.type not in endpoint.event_types:
            continue
        session.add(_delivery(endpoint, event.type, body, now=now, event=event))
        if endpoint.id not in state.woken:
            state.woken.add(endpoint.id)
            await wake_endpoint(session, endpoint.id)


def _delivery(
    endpoint: WebhookEndpoint,
    event_type: str,
    body: bytes,
    *,
    now: datetime,
    event: Event | None = None,
) -> WebhookDelivery:
    return WebhookDelivery(
        tenant_id=endpoint.tenant_id,
        endpoint_id=endpoint.id,
        event=event,
        message_id=new_message_id(),
        event_type=event_type,
        body=body,
        status=DeliveryStatus.pending,
        attempts=0,
        next_attempt_at=now,
    )


async def _queue_delivery(
    session: AsyncSession, endpoint: WebhookEndpoint, event_type: str, body: bytes, *, now: datetime
) -> WebhookDelivery:
    delivery = _delivery(endpoint, event_type, body, now=now)
    session.add(delivery)
    await session.flush()
    await wake_endpoint(session, endpoint.id)
    return delivery


async def wake_endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> None:
    await enqueue(session, DELIVER, {"endpoint_id": str(endpoint_id)})


# --- endpoints ---------------------------------------------------------------------------


async def create_endpoint(
    session: AsyncSession,
    secrets: SecretBox,
    *,
    tenant_id: uuid.UUID,
    url: str,
    description: str | None,
    event_types: Sequence[str],
) -> tuple[WebhookEndpoint, str]:
    """Returns the endpoint and its secret, which is shown this once and stored encrypted."""
    secret = new_secret()
    endpoint = WebhookEndpoint(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        url=url,
        description=description,
        event_types=list(event_types),
        secret_encrypted=secrets.encrypt(secret),
        enabled=True,
    )
    session.add(endpoint)
    await session.flush()
    await session.refresh(endpoint, ["created_at", "updated_at"])
    return endpoint, secret


async def get_endpoint(
    session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID, *, lock: bool = False
) -> WebhookEndpoint:
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.tenant_id == tenant_id
    )
    if lock:
        query = query.with_for_update()
    endpoint = await session.scalar(query)
    if endpoint is None:
        raise NotFound("webhook_endpoint")
    return endpoint


async def list_endpoints(session: AsyncSession, tenant_id: uuid.UUID) -> Sequence[WebhookEndpoint]:
    query = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.tenant_id == tenant_id)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return (await session.scalars(query)).all()


async def set_enabled(
    session: AsyncSession, endpoint: WebhookEndpoint, enabled: bool, *, now: datetime
) -> None:
    """Re-enabling resumes at once the deliveries that waited while the endpoint was disabled
    (a head that was waiting hours for its next retry goes now). Events that happened while it
    was disabled were not queued for it: the event feed has them."""
    was_enabled = endpoint.enabled
    endpoint.enabled = enabled
    if enabled:
        endpoint.disabled_reason = None
        endpoint.failing_since = None
        if not was_enabled:
            await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.endpoint_id == endpoint.id,
                    WebhookDelivery.status == DeliveryStatus.pending,
                    WebhookDelivery.next_attempt_at > now,
                )
                .values(next_attempt_at=now)
            )
            await wake_endpoint(session, endpoint.id)
    else:
        endpoint.disabled_reason = "disabled through the API"


async def list_deliveries(
    session: AsyncSession, endpoint: WebhookEndpoint, *, before: int | None, limit: int
) -> Sequence[WebhookDelivery]:
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    return (await session.scalars(query)).all()


async def get_delivery(
    session: AsyncSession, endpoint: WebhookEndpoint, delivery_id: int
) -> WebhookDelivery:
    delivery = await session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id
        )
    )
    if delivery is None:
        raise NotFound("webhook_delivery")
    return delivery


async def retry_delivery(
    session: AsyncSession, endpoint: WebhookEndpoint, delivery: WebhookDelivery, *, now: datetime
) -> None:
    """A manual retry: the same message (same webhook-id) goes out again, on a fresh schedule."""
    if delivery.status is DeliveryStatus.pending:
        raise Conflict("delivery_pending", "This delivery is still being attempted.")
    delivery.status = DeliveryStatus.pending
    delivery.attempts = 0
    delivery.next_attempt_at = now
    await session.flush()
    await wake_endpoint(session, endpoint.id)


async def send_test_event(
    session: AsyncSession, endpoint: WebhookEndpoint, *, now: datetime
) -> WebhookDelivery:
    body = _payload(TEST_EVENT, now, {"endpoint_id": str(endpoint.id)})
    return await _queue_delivery(session, endpoint, TEST_EVENT, body, now=now)
