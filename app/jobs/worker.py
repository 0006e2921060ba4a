"""A job worker: PgQueuer's QueueManager on its own connection, our handlers, a periodic sweep.

`cachet serve` runs one inside the service (development default); `cachet worker` runs one
standalone. Any number may run against the same database: PgQueuer claims each job with
SKIP LOCKED, and a job whose worker stops heart-beating is picked up again by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pgqueuer import QueueManager
from pgqueuer.db import AsyncpgDriver
from pgqueuer.errors import RetryRequested
from pgqueuer.models import Job
from pgqueuer.queries import Queries

from app.db import connect_raw, transaction
from app.jobs.queue import decode_payload, enqueue
from app.runtime import Runtime

log = logging.getLogger(__name__)

Handler = Callable[[Runtime, dict[str, Any]], Awaitable[None]]
ExhaustedHook = Callable[[Runtime, dict[str, Any], str], Awaitable[None]]

SWEEP = "sweep"


@dataclass(frozen=True)
class JobSpec:
    """One kind of job: its handler, and what to record when every attempt has failed."""

    name: str
    handler: Handler
    on_exhausted: ExhaustedHook | None = None


def retry_delay(attempt: int, *, max_delay: float, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff from 1 s, capped, with full jitter in its upper half."""
    ceiling = min(2.0**attempt, max_delay)
    return timedelta(seconds=ceiling * (0.5 + 0.5 * (rng or random).random()))


def entrypoint_for(runtime: Runtime, spec: JobSpec) -> Callable[[Job], Awaitable[None]]:
    """Turns a failure into a delayed retry until the attempts run out, then dead-letters it."""
    settings = runtime.settings

    async def run(job: Job) -> None:
        payload = decode_payload(job.payload)
        try:
            await spec.handler(runtime, payload)
        except RetryRequested:
            raise
        except Exception as error:
            attempt = job.attempts + 1
            if attempt < settings.job_max_attempts:
                log.warning(
                    "job %s/%s failed (attempt %d): %s", job.entrypoint, job.id, attempt, error
                )
                delay = retry_delay(job.attempts, max_delay=settings.job_retry_max_delay_seconds)
                raise RetryRequested(delay=delay, reason=str(error)) from error
            if spec.on_exhausted is not None:
                await spec.on_exhausted(runtime, payload, str(error))
            raise  # held as 'failed' by PgQueuer: the dead-letter state (`cachet jobs failed`)

    return run


class Worker:
    def __init__(self, runtime: Runtime, specs: Sequence[JobSpec]) -> None:
        self.runtime = runtime
        self.specs = specs
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._manager: QueueManager | None = None

    async def start(self) -> None:
        connection = await connect_raw(self.runtime.database_url)
        manager = QueueManager(Queries(AsyncpgDriver(connection)))
        for spec in self.specs:
            manager.entrypoint(spec.name, on_failure="hold")(entrypoint_for(self.runtime, spec))
        self._manager = manager
        self._tasks = [
            asyncio.create_task(self._run_manager(manager, connection)),
            asyncio.create_task(self._sweep_ticker()),
        ]

    async def _run_manager(self, manager: QueueManager, connection: Any) -> None:
        settings = self.runtime.settings
        try:
            await manager.run(
                dequeue_timeout=timedelta(seconds=5),
                batch_size=settings.worker_concurrency,
                max_concurrent_tasks=settings.worker_concurrency * 2,
                heartbeat_timeout=timedelta(seconds=settings.job_heartbeat_timeout_seconds),
            )
        finally:
            await connection.close()

    async def _sweep_ticker(self) -> None:
        """Asks for a sweep now and then; its dedupe key keeps it to one at a time anywhere."""
        interval = self.runtime.settings.sweep_interval_seconds
        while not self._stopping.is_set():
            try:
                async with transaction(self.runtime.sessions) as session:
                    await enqueue(session, SWEEP, {}, dedupe_key=SWEEP)
            except Exception:
                log.exception("could not schedule the sweep")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)

    async def stop(self) -> None:
        self._stopping.set()
        if self._manager is not None:
            self._manager.shutdown.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
