"""Every job the workers run, wired to its handler: the one place that knows them all.

Each package keeps its jobs in its own tasks.py; app/jobs runs whatever it is given.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import anyio

from app.jobs.worker import JobSpec
from app.runtime import Runtime
from app.webhooks.service import DELIVER
from app.webhooks.tasks import deliver_endpoint, wake_stalled_endpoints
from app.workflow.archive import RENEW_ARCHIVES
from app.workflow.identity_flow import REFRESH_IDENTITY, poll_open_sessions, refresh_job
from app.workflow.mail import SEND_EMAIL
from app.workflow.otp import SEND_CODE
from app.workflow.service import APPLY_SIGNATURE, SEAL_EVIDENCE
from app.workflow.sms import send_code_job
from app.workflow.tasks import (
    apply_signature_job,
    mark_email_failed,
    renew_archives_job,
    seal_evidence_job,
    send_email_job,
    signature_failed,
    sweep_due_envelopes,
)

log = logging.getLogger(__name__)

SWEEP = "sweep"


async def sweep(runtime: Runtime, payload: dict[str, Any]) -> None:
    """The periodic job: expiry and scheduled reminders, identity checks whose callback has not
    come, stalled webhook endpoints, then the temporary files of killed uploads and jobs."""
    await sweep_due_envelopes(runtime)
    await poll_open_sessions(runtime)
    await wake_stalled_endpoints(runtime)
    await remove_stale_temp_files(runtime)


async def remove_stale_temp_files(runtime: Runtime) -> None:
    """Also run at start: a killed process never removes its temporary files itself."""
    max_age = runtime.settings.tmp_max_age_seconds
    removed = await anyio.to_thread.run_sync(
        functools.partial(runtime.blobs.sweep_tmp, older_than_seconds=max_age)
    )
    if removed:
        log.warning("removed %d temporary file(s) left by killed uploads or jobs", len(removed))


JOB_SPECS: tuple[JobSpec[Runtime], ...] = (
    JobSpec(SEND_EMAIL, send_email_job, on_exhausted=mark_email_failed),
    JobSpec(DELIVER, deliver_endpoint),
    JobSpec(SWEEP, sweep, periodic=True),
    JobSpec(APPLY_SIGNATURE, apply_signature_job, on_exhausted=signature_failed),
    JobSpec(SEAL_EVIDENCE, seal_evidence_job),
    JobSpec(SEND_CODE, send_code_job),
    JobSpec(REFRESH_IDENTITY, refresh_job),
    JobSpec(RENEW_ARCHIVES, renew_archives_job, periodic=True),
)
