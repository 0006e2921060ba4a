"""The floor for bench/engine.py: what bare PgQueuer does on the same PostgreSQL server.

A QueueManager with a no-op entrypoint, run with the settings of Cachet's worker (batch size
and concurrency cap), on its own connection, in a database of its own on the same server.
M jobs are enqueued in batches from a second connection while it runs; jobs/s is M over the
time from the first enqueue to the M-th job run. Nothing is left of the job but PgQueuer's
own work: dequeue with SKIP LOCKED, heartbeat, log and delete.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from pgqueuer import QueueManager
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job
from pgqueuer.queries import Queries
from sqlalchemy.engine import make_url

from app.config import Settings
from app.db import connect_raw, ensure_database_exists

FLOOR_DATABASE = "bench_floor"
NOOP = "bench.noop"
ENQUEUE_BATCH = 100


async def prepare_floor_database(cachet_url: str) -> str:
    """A database beside Cachet's on the same server, with PgQueuer's schema installed."""
    url = make_url(cachet_url).set(database=FLOOR_DATABASE).render_as_string(hide_password=False)
    await ensure_database_exists(url)
    connection = await connect_raw(url)
    try:
        queries = Queries(AsyncpgDriver(connection))
        if not await queries.schema_is_installed():
            await queries.install()
    finally:
        await connection.close()
    return url


class _Counter:
    """The no-op entrypoint: counts the jobs it is given and says when the target is reached."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 1
        self.reached = asyncio.Event()

    async def __call__(self, job: Job) -> None:
        self.count += 1
        if self.count >= self.target:
            self.reached.set()

    def expect(self, more: int) -> None:
        self.target = self.count + more
        self.reached.clear()


async def _enqueue(queries: Queries, jobs: int) -> None:
    for start in range(0, jobs, ENQUEUE_BATCH):
        size = min(ENQUEUE_BATCH, jobs - start)
        await queries.enqueue([NOOP] * size, [None] * size, [0] * size)


async def floor_rounds(url: str, jobs: int, rounds: int) -> list[float]:
    """jobs/s of each round, after one warm-up job (manager started, LISTEN in place)."""
    settings = Settings()  # the worker's defaults, as `cachet serve` runs them
    manager_connection: Any = await connect_raw(url)
    producer: Any = await connect_raw(url)
    manager = QueueManager(Queries(AsyncpgDriver(manager_connection)))
    counter = _Counter()
    manager.entrypoint(NOOP)(counter)
    runner = asyncio.create_task(
        manager.run(
            dequeue_timeout=timedelta(seconds=5),
            batch_size=settings.worker_concurrency,
            max_concurrent_tasks=settings.worker_concurrency * 2,
        )
    )
    queries = Queries(AsyncpgDriver(producer))
    try:
        await _timed_round(queries, counter, 1)
        return [jobs / await _timed_round(queries, counter, jobs) for _ in range(rounds)]
    finally:
        manager.shutdown.set()
        await runner
        await producer.close()
        await manager_connection.close()


async def _timed_round(queries: Queries, counter: _Counter, jobs: int) -> float:
    counter.expect(jobs)
    start = time.perf_counter()
    await _enqueue(queries, jobs)
    await asyncio.wait_for(counter.reached.wait(), timeout=60)
    return time.perf_counter() - start
