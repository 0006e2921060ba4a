"""The delivery job: drains one endpoint's pending deliveries, oldest first.

The endpoint's row lock is held during each attempt, so at most one attempt per endpoint is in
flight anywhere and the endpoint sees its messages in order. A failing head blocks the ones
behind it until it succeeds or its retry schedule is exhausted.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import transaction
from app.jobs.queue import enqueue
from app.runtime import Runtime
from app.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.webhooks.schedule import next_retry_delay
from app.webhooks.sender import AttemptResult, attempt_delivery, build_client
from app.webhooks.service import DELIVER
from app.webhooks.signatures import delivery_headers


async def deliver_endpoint(runtime: Runtime, payload: dict[str, Any]) -> None:
    endpoint_id = uuid.UUID(payload["endpoint_id"])
    while await _attempt_head(runtime, endpoint_id):
        pass


async def _attempt_head(runtime: Runtime, endpoint_id: uuid.UUID) -> bool:
    """One attempt at the endpoint's oldest pending delivery; True when the next may go now."""
    async with transaction(runtime.sessions) as session:
        endpoint = await session.scalar(
            select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).with_for_update()
        )
        if endpoint is None or not endpoint.enabled:
            return False
        delivery = await _head(session, endpoint_id)
        now = runtime.clock.now()
        if delivery is None or delivery.next_attempt_at > now:
            return False  # nothing to do, or the head's own retry job will come back for it
        result = await _attempt(runtime, endpoint, delivery)
        session.add(_attempt_row(delivery, result, now))
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_status_code = result.status_code
        delivery.last_error = result.error
        if result.succeeded:
            delivery.status = DeliveryStatus.succeeded
            endpoint.failing_since = None
            return True
        return await _after_failure(runtime, session, endpoint, delivery, result, now)


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
            allow_private=settings.is_development,
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
) -> bool:
    settings = runtime.settings
    endpoint.failing_since = endpoint.failing_since or now
    if result.gone:
        _disable(endpoint, "the endpoint answered 410 Gone")
    elif now - endpoint.failing_since >= timedelta(days=settings.webhook_disable_after_days):
        _disable(endpoint, f"every attempt failed for {settings.webhook_disable_after_days:g} days")
    delay = next_retry_delay(settings.webhook_retry_delays, delivery.attempts)
    if delay is None:
        delivery.status = DeliveryStatus.failed
        return endpoint.enabled  # the schedule is spent: the next message may go
    if result.retry_after_seconds is not None:
        delay = max(delay, timedelta(seconds=result.retry_after_seconds))
    delivery.next_attempt_at = now + delay
    if endpoint.enabled:
        await enqueue(session, DELIVER, {"endpoint_id": str(endpoint.id)}, delay=delay)
    return False


def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    endpoint.enabled = False
    endpoint.disabled_reason = reason
