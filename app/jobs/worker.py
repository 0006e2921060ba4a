"""A job worker: PgQueuer's QueueManager on its own connection, the handlers it is given, and
the periodic jobs it asks for.

`cachet serve` runs one inside the service (development default); `cachet worker` runs one
standalone. Any number may run against the same database: PgQueuer claims each job with
SKIP LOCKED, and a job whose worker stops heart-beating is picked up again by another.

The queue knows nothing of what the jobs do: each handler gets the context the worker was
started with (the service's runtime) and the job's payload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, Protocol, TypeVar

from pgqueuer import QueueManager
from pgqueuer.db import AsyncpgDriver
from pgqueuer.errors import RetryRequested
from pgqueuer.models import Job
from pgqueuer.queries import Queries
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import connect_raw, transaction
from app.errors import StorageUnavailable
from app.jobs.queue import decode_payload, enqueue
from app.observability.metrics import count_job_run

log = logging.getLogger(__name__)


class JobContext(Protocol):
    """What the worker itself needs from the context it hands to the handlers."""

    @property
    def settings(self) -> Settings: ...

    @property
    def database_url(self) -> str: ...

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...


ContextT = TypeVar("ContextT", bound=JobContext)


class TryLater(Exception):
    """Raised by a handler whose failure is not its own (a service it depends on is down):
    retried on the long schedule (CACHET_JOB_TRANSIENT_MAX_DELAY_SECONDS) for as long as it
    takes, never dead-lettered; so is StorageUnavailable (the blob store's 503). Any other
    exception counts against CACHET_JOB_MAX_ATTEMPTS."""


@dataclass(frozen=True)
class JobSpec(Generic[ContextT]):
    """One kind of job: its handler, what to record when every attempt has failed, and whether
    the worker asks for it every CACHET_SWEEP_INTERVAL_SECONDS (one at a time anywhere)."""

    name: str
    handler: Callable[[ContextT, dict[str, Any]], Awaitable[None]]
    on_exhausted: Callable[[ContextT, dict[str, Any], str], Awaitable[None]] | None = None
    periodic: bool = False


def retry_delay(attempt: int, *, max_delay: float, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff from 1 s, capped, with full jitter in its upper half."""
    ceiling = min(2.0 ** min(attempt, 60), max_delay)  # a job retried for weeks: no overflow
    return timedelta(seconds=ceiling * (0.5 + 0.5 * (rng or random).random()))


def entrypoint_for(context: ContextT, spec: JobSpec[ContextT]) -> Callable[[Job], Awaitable[None]]:
    """Turns a failure into a delayed retry until the attempts run out, then dead-letters it."""
    settings = context.settings

    async def run(job: Job) -> None:
        payload = decode_payload(job.payload)
        try:
            await spec.handler(context, payload)
        except RetryRequested:
            count_job_run(job.entrypoint, "retry")
            raise
        # The document store (S3) not answering is a service down too: no envelope fails for it.
        except (TryLater, StorageUnavailable) as error:
            _log_failure(job, "waiting", error, "job %s/%s waits for a service: %s")
            delay = retry_delay(job.attempts, max_delay=settings.job_transient_max_delay_seconds)
            raise RetryRequested(delay=delay, reason=str(error)) from error
        except Exception as error:
            if job.attempts + 1 < settings.job_max_attempts:
                _log_failure(job, "retry", error, "job %s/%s failed, to be retried: %s")
                delay = retry_delay(job.attempts, max_delay=settings.job_retry_max_delay_seconds)
                raise RetryRequested(delay=delay, reason=str(error)) from error
            _log_failure(job, "failed", error, "job %s/%s failed its last attempt: %s")
            if spec.on_exhausted is not None:
                await spec.on_exhausted(context, payload, str(error))
            raise  # held as 'failed' by PgQueuer: the dead-letter state (`cachet jobs failed`)
        count_job_run(job.entrypoint, "succeeded")

    return run


def _log_failure(job: Job, outcome: str, error: Exception, message: str) -> None:
    """The payload stays out of the line: an SMS job's carries the (sealed) code."""
    count_job_run(job.entrypoint, outcome)
    log.warning(
        message,
        job.entrypoint,
        job.id,
        error,
        extra={
            "event": "job_failure",
            "entrypoint": job.entrypoint,
            "job_id": job.id,
            "attempt": job.attempts + 1,
            "outcome": outcome,
        },
    )


class Worker(Generic[ContextT]):
    def __init__(self, context: ContextT, specs: Sequence[JobSpec[ContextT]]) -> None:
        self.context = context
        self.specs = specs
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._manager: QueueManager | None = None

    async def start(self) -> None:
        connection = await connect_raw(self.context.database_url)
        manager = QueueManager(Queries(AsyncpgDriver(connection)))
        for spec in self.specs:
            manager.entrypoint(spec.name, on_failure="hold")(entrypoint_for(self.context, spec))
        self._manager = manager
        self._tasks = [asyncio.create_task(self._run_manager(manager, connection))]
        self._tasks += [
            asyncio.create_task(self._ticker(spec.name)) for spec in self.specs if spec.periodic
        ]

    async def _run_manager(self, manager: QueueManager, connection: Any) -> None:
        settings = self.context.settings
        try:
            await manager.run(
                dequeue_timeout=timedelta(seconds=5),
                batch_size=settings.worker_concurrency,
                max_concurrent_tasks=settings.worker_concurrency * 2,
                heartbeat_timeout=timedelta(seconds=settings.job_heartbeat_timeout_seconds),
            )
        finally:
            await connection.close()

    async def _ticker(self, name: str) -> None:
        """Asks for a periodic job now and then; its dedupe key keeps it to one at a time."""
        interval = self.context.settings.sweep_interval_seconds
        while not self._stopping.is_set():
            try:
                async with transaction(self.context.sessions) as session:
                    await enqueue(session, name, {}, dedupe_key=name)
            except Exception:
                log.exception("could not schedule the periodic job %s", name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)

    async def stop(self) -> None:
        self._stopping.set()
        if self._manager is not None:
            self._manager.shutdown.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
