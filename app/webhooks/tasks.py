"""The webhook jobs: the delivery job drains one endpoint's pending deliveries, oldest first;
the sweep wakes endpoints whose delivery job was lost.

One job at a time holds the endpoint's row (FOR NO KEY UPDATE) during an attempt, so at most
one attempt per endpoint is in flight anywhere and the endpoint sees its messages in order; a
job that finds the endpoint busy simply leaves. A failing head blocks the messages behind it
until it succeeds or its retry schedule is spent.

Nothing is stranded by leaving: the holder, once it has let go of the row, looks again for a
due head and goes round once more if it finds one. A delivery committed while the holder was
looking has its own job; that job either runs after the holder let go (and takes the row
itself) or finds it busy, in which case its delivery was committed before the holder's look
after letting go, which sees it.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import transaction
from app.jobs.queue import enqueue
from app.observability.metrics import count_webhook_attempt
from app.runtime import Runtime
from app.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.webhooks.schedule import next_retry_delay
from app.webhooks.sender import AttemptResult, attempt_delivery, build_client
from app.webhooks.service import DELIVER
from app.webhooks.signatures import delivery_headers

log = logging.getLogger(__name__)


class Next(Enum):
    more = "more"  # an attempt was made; the next message may go now
    done = "done"  # nothing due, or the head waits for its retry job
    busy = "busy"  # another job holds the endpoint


async def deliver_endpoint(runtime: Runtime, payload: dict[str, Any]) -> None:
    endpoint_id = uuid.UUID(payload["endpoint_id"])
    while True:
        while (step := await _attempt_head(runtime, endpoint_id)) is Next.more:
            pass
        if step is Next.busy or not await _head_is_due(runtime, endpoint_id):
            return


async def _attempt_head(runtime: Runtime, endpoint_id: uuid.UUID) -> Next:
    """One attempt at the endpoint's oldest pending delivery."""
    async with transaction(runtime.sessions) as session:
        # FOR NO KEY UPDATE: inserting a delivery takes a key-share lock on its endpoint (the
        # foreign key), which this does not block; FOR UPDATE stalled every workflow step
        # of the tenant for as long as a slow receiver took to answer.
        endpoint = await session.scalar(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .with_for_update(key_share=True, skip_locked=True)
        )
        if endpoint is None:  # held by another job, or deleted: either way, nothing to do
            return Next.busy
        if not endpoint.enabled:
            return Next.done
        delivery = await _head(session, endpoint_id)
        now = runtime.clock.now()
        if delivery is None or delivery.next_attempt_at > now:
            return Next.done
        result = await _attempt(runtime, endpoint, delivery)
        session.add(_attempt_row(delivery, result, now))
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_status_code = result.status_code
        delivery.last_error = result.error
        if result.succeeded:
            delivery.status = DeliveryStatus.succeeded
            if endpoint.failing_since is not None:
                endpoint.failing_since = None
            _note_attempt(delivery, result, "succeeded")
            return Next.more
        after = await _after_failure(runtime, session, endpoint, delivery, result, now)
        gave_up = delivery.status is DeliveryStatus.failed
        _note_attempt(delivery, result, "failed" if gave_up else "retry")
        return after


async def _head_is_due(runtime: Runtime, endpoint_id: uuid.UUID) -> bool:
    """Looked at after letting go of the endpoint, without its lock (see the module's text)."""
    async with transaction(runtime.sessions) as session:
        head_due_at = await session.scalar(
            select(WebhookDelivery.next_attempt_at)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.status == DeliveryStatus.pending,
                WebhookEndpoint.enabled.is_(True),
            )
            .order_by(WebhookDelivery.id)
            .limit(1)
        )
    return head_due_at is not None and head_due_at <= runtime.clock.now()


async def _head(session: AsyncSession, endpoint_id: uuid.UUID) -> WebhookDelivery | None:
    return await session.scalar(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == DeliveryStatus.pending,
        )
        .order_by(WebhookDelivery.id)
        .limit(1)
    )


async def _attempt(
    runtime: Runtime, endpoint: WebhookEndpoint, delivery: WebhookDelivery
) -> AttemptResult:
    """The URL is checked again at every attempt: DNS answers change (rebinding)."""
    settings = runtime.settings
    secret = runtime.secrets.decrypt(endpoint.secret_encrypted)
    headers = delivery_headers(secret, delivery.message_id, int(time.time()), delivery.body)
    async with build_client() as client:
        return await attempt_delivery(
            client,
            endpoint.url,
            headers,
            delivery.body,
            timeout=settings.webhook_timeout_seconds,
            allow_http=settings.is_development,
            allow_loopback=settings.is_development,
        )


def _note_attempt(delivery: WebhookDelivery, result: AttemptResult, outcome: str) -> None:
    """Neither the URL (it may carry the receiver's own token) nor the error text (it may
    quote the URL) goes into the line; the delivery's attempts in the API have both."""
    count_webhook_attempt(outcome)
    log.log(
        logging.INFO if outcome == "succeeded" else logging.WARNING,
        "webhook delivery %s attempt %d: %s",
        delivery.id,
        delivery.attempts,
        outcome,
        extra={
            "event": "webhook_attempt",
            "outcome": outcome,
            "delivery_id": delivery.id,
            "endpoint_id": str(delivery.endpoint_id),
            "message_id": delivery.message_id,
            "event_type": delivery.event_type,
            "attempt": delivery.attempts,
            "status_code": result.status_code,
            "duration_ms": result.duration_ms,
            "tenant_id": str(delivery.tenant_id),
        },
    )


def _attempt_row(delivery: WebhookDelivery, result: AttemptResult, now: datetime) -> WebhookAttempt:
    return WebhookAttempt(
        delivery_id=delivery.id,
        attempted_at=now,
        status_code=result.status_code,
        error=result.error,
        duration_ms=result.duration_ms,
        response_excerpt=result.response_excerpt or None,
    )


async def _after_failure(
    runtime: Runtime,
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    delivery: WebhookDelivery,
    result: AttemptResult,
    now: datetime,
) -> Next:
    settings = runtime.settings
    endpoint.failing_since = endpoint.failing_since or now
    if result.gone:
        _disable(endpoint, "the endpoint answered 410 Gone")
    elif now - endpoint.failing_since >= timedelta(days=settings.webhook_disable_after_days):
        _disable(endpoint, f"every attempt failed for {settings.webhook_disable_after_days:g} days")
    delay = next_retry_delay(settings.webhook_retry_delays, delivery.attempts)
    if delay is None:
        delivery.status = DeliveryStatus.failed
        # The schedule is spent: the next message may go.
        return Next.more if endpoint.enabled else Next.done
    if result.retry_after_seconds is not None:
        delay = max(delay, timedelta(seconds=result.retry_after_seconds))
    delivery.next_attempt_at = now + delay
    if endpoint.enabled:
        await enqueue(session, DELIVER, {"endpoint_id": str(endpoint.id)}, delay=delay)
    return Next.done


def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    endpoint.enabled = False
    endpoint.disabled_reason = reason


async def wake_stalled_endpoints(runtime: Runtime) -> None:
    """A safety net: a due delivery whose job was lost gets a new one."""
    async with transaction(runtime.sessions) as session:
        stalled = await session.scalars(
            select(WebhookDelivery.endpoint_id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.status == DeliveryStatus.pending,
                WebhookDelivery.next_attempt_at <= runtime.clock.now(),
                WebhookEndpoint.enabled.is_(True),
            )
            .distinct()
        )
        for endpoint_id in stalled:
            await enqueue(
                session,
                DELIVER,
                {"endpoint_id": str(endpoint_id)},
                dedupe_key=f"wake:{endpoint_id}",
            )
