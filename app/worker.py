"""Every job the workers run, wired to its handler: the one place that knows them all.

Each package keeps its jobs in its own tasks.py; app/jobs runs whatever it is given.
"""

from __future__ import annotations

from typing import Any

from app.jobs.worker import JobSpec
from app.runtime import Runtime
from app.webhooks.service import DELIVER
from app.webhooks.tasks import deliver_endpoint, wake_stalled_endpoints
from app.workflow.archive import RENEW_ARCHIVES
from app.workflow.mail import SEND_EMAIL
from app.workflow.service import APPLY_SIGNATURE, SEAL_EVIDENCE
from app.workflow.tasks import (
    apply_signature_job,
    mark_email_failed,
    renew_archives_job,
    seal_evidence_job,
    send_email_job,
    signature_failed,
    sweep_due_envelopes,
)

SWEEP = "sweep"


async def sweep(runtime: Runtime, payload: dict[str, Any]) -> None:
    """The periodic job: expiry and scheduled reminders, then stalled webhook endpoints."""
    await sweep_due_envelopes(runtime)
    await wake_stalled_endpoints(runtime)


JOB_SPECS: tuple[JobSpec[Runtime], ...] = (
    JobSpec(SEND_EMAIL, send_email_job, on_exhausted=mark_email_failed),
    JobSpec(DELIVER, deliver_endpoint),
    JobSpec(SWEEP, sweep, periodic=True),
    JobSpec(APPLY_SIGNATURE, apply_signature_job, on_exhausted=signature_failed),
    JobSpec(SEAL_EVIDENCE, seal_evidence_job),
    JobSpec(RENEW_ARCHIVES, renew_archives_job, periodic=True),
)
