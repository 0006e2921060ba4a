"""Every kind of job the workers run, and the periodic sweep."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from app.db import transaction
from app.jobs.queue import enqueue
from app.jobs.worker import SWEEP, JobSpec
from app.runtime import Runtime
from app.signing.flow import apply_signature_job, signature_failed
from app.webhooks.delivery import deliver_endpoint
from app.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from app.webhooks.service import DELIVER
from app.workflow.mail import SEND_EMAIL, mark_email_failed, send_email_job
from app.workflow.service import APPLY_SIGNATURE, Step, due_envelope_ids, sweep_envelope

log = logging.getLogger(__name__)

SWEEP_BATCH = 500


def step_of(runtime: Runtime) -> Step:
    return Step(now=runtime.clock.now(), settings=runtime.settings, secrets=runtime.secrets)


async def sweep(runtime: Runtime, payload: dict[str, Any]) -> None:
    """Expiry and scheduled reminders, one envelope per transaction; then stalled webhooks."""
    async with transaction(runtime.sessions) as session:
        due = await due_envelope_ids(session, runtime.clock.now(), limit=SWEEP_BATCH)
    for envelope_id in due:
        try:
            async with transaction(runtime.sessions) as session:
                await sweep_envelope(session, step_of(runtime), envelope_id)
        except Exception:
            log.exception("sweep failed for envelope %s", envelope_id)
    await _wake_stalled_endpoints(runtime)


async def _wake_stalled_endpoints(runtime: Runtime) -> None:
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


JOB_SPECS = (
    JobSpec(SEND_EMAIL, send_email_job, on_exhausted=mark_email_failed),
    JobSpec(DELIVER, deliver_endpoint),
    JobSpec(SWEEP, sweep),
    JobSpec(APPLY_SIGNATURE, apply_signature_job, on_exhausted=signature_failed),
)
