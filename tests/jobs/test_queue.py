"""The job queue with real workers on the test database: atomic enqueue, no double runs,
retries with backoff, dead letters, and the `cachet jobs` commands that look after them.

The app's own in-process worker serves only the app's entrypoints (email.send, webhook
deliveries, sweep); the jobs here use entrypoints of their own ("test.*"), which only the
workers started by each test dequeue.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app.db import transaction
from app.jobs.queue import Priority, enqueue
from app.jobs.worker import JobSpec, Worker
from app.runtime import Runtime
from tests.support.cli import cachet_env, run_cachet
from tests.support.polling import wait_until


class Boom(Exception):
    """What the failing test handlers raise."""


def body_of(payload: dict[str, Any]) -> bytes:
    """The payload as app.jobs.queue.enqueue stores it in pgqueuer.payload."""
    return json.dumps(payload, separators=(",", ":")).encode()


async def jobs_rows(runtime: Runtime, entrypoint: str) -> list[dict[str, Any]]:
    async with runtime.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT id, status::text AS status, attempts, payload FROM pgqueuer"
                " WHERE entrypoint = :entrypoint ORDER BY id"
            ),
            {"entrypoint": entrypoint},
        )
        return [dict(row._mapping) for row in rows]


async def delete_jobs(runtime: Runtime, *entrypoints: str) -> None:
    async with runtime.engine.begin() as connection:
        await connection.execute(
            text("DELETE FROM pgqueuer WHERE entrypoint = ANY(:entrypoints)"),
            {"entrypoints": list(entrypoints)},
        )


@asynccontextmanager
async def running(
    runtime: Runtime, specs: Sequence[JobSpec[Runtime]]
) -> AsyncIterator[Worker[Runtime]]:
    worker = Worker(runtime, specs)
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


# --- 1. enqueue is part of the caller's transaction ---------------------------------------------


@pytest.mark.parametrize("first_statement", [True, False], ids=["enqueue-first", "after-a-query"])
async def test_a_rolled_back_transaction_takes_its_job_with_it(
    runtime: Runtime, first_statement: bool
) -> None:
    """A rollback removes the job; a commit keeps exactly one.

    "enqueue-first" guards a bug this test found: SQLAlchemy's asyncpg dialect sends BEGIN
    lazily, with the first statement *it* executes, so a job written first through the raw
    connection used to autocommit and survive the rollback.
    """
    entrypoint = "test.atomic"  # no worker serves it: whatever is committed stays in the table
    rolled_back = {"n": uuid.uuid4().hex}
    committed = {"n": uuid.uuid4().hex}

    async def enqueue_then_fail() -> None:
        async with transaction(runtime.sessions) as session:
            if not first_statement:
                await session.execute(text("SELECT 1"))
            await enqueue(session, entrypoint, rolled_back)
            raise Boom

    try:
        with pytest.raises(Boom):
            await enqueue_then_fail()
        async with transaction(runtime.sessions) as session:
            if not first_statement:
                await session.execute(text("SELECT 1"))
            await enqueue(session, entrypoint, committed)

        payloads = [row["payload"] for row in await jobs_rows(runtime, entrypoint)]
        assert payloads.count(body_of(committed)) == 1
        assert payloads.count(body_of(rolled_back)) == 0, "the rolled-back job was committed"
    finally:
        await delete_jobs(runtime, entrypoint)


async def test_a_busy_worker_takes_what_a_person_waits_for_first(runtime: Runtime) -> None:
    """Jobs queued together run by priority (what a person waits for, then emails, then the
    background), oldest first within a priority: a burst of webhooks cannot hold an SMS code."""
    started: list[str] = []

    async def note(_: Runtime, payload: dict[str, Any]) -> None:
        started.append(payload["name"])

    entrypoints = ("test.prio.hooks", "test.prio.mail", "test.prio.code")
    queued = [
        ("test.prio.hooks", "hook-1", Priority.background),
        ("test.prio.mail", "mail-1", Priority.person_told),
        ("test.prio.hooks", "hook-2", Priority.background),
        ("test.prio.code", "code-1", Priority.person_waiting),
        ("test.prio.mail", "mail-2", Priority.person_told),
    ]
    async with transaction(runtime.sessions) as session:
        for entrypoint, name, priority in queued:
            await enqueue(session, entrypoint, {"name": name}, priority=priority)
    one_at_a_time = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update={"worker_concurrency": 1})
    )
    try:
        async with running(one_at_a_time, [JobSpec(name, note) for name in entrypoints]):
            await wait_until(lambda: len(started) == len(queued), what="all five jobs")
        assert started == ["code-1", "mail-1", "mail-2", "hook-1", "hook-2"]
    finally:
        await delete_jobs(runtime, *entrypoints)


# --- 2. two workers share a backlog without running any job twice ------------------------------


async def test_two_workers_run_every_job_exactly_once(runtime: Runtime) -> None:
    entrypoint = "test.count"
    total = 200
    runs: Counter[str] = Counter()
    by_worker: Counter[str] = Counter()

    def counting(worker_name: str) -> JobSpec[Runtime]:
        async def handle(_: Runtime, payload: dict[str, Any]) -> None:
            runs[payload["n"]] += 1
            by_worker[worker_name] += 1
            await asyncio.sleep(0.02)  # long enough for the other worker to claim a batch too

        return JobSpec(entrypoint, handle)

    tag = uuid.uuid4().hex[:8]
    expected = {f"{tag}-{i}" for i in range(total)}

    async def all_done() -> bool:
        return sum(runs.values()) >= total and await jobs_rows(runtime, entrypoint) == []

    try:
        async with (
            running(runtime, [counting("first")]),
            running(runtime, [counting("second")]),
        ):
            async with transaction(runtime.sessions) as session:
                for n in sorted(expected):
                    await enqueue(session, entrypoint, {"n": n})
            await wait_until(all_done, within=30, what=f"{total} jobs run and logged")
            await asyncio.sleep(0.5)  # a double run would show up by now
        assert set(runs) == expected
        assert [n for n, count in runs.items() if count != 1] == []
        # Both took part: each claims a batch of worker_concurrency (10) jobs at a time,
        # and every job yields for 20 ms, so one worker alone cannot drain 200 of them.
        assert set(by_worker) == {"first", "second"}, by_worker
        assert sum(by_worker.values()) == total
    finally:
        await delete_jobs(runtime, entrypoint)


# --- 3. retries with backoff, then the dead letter, `cachet jobs failed` and `retry` ------------


async def test_a_failing_job_is_retried_then_succeeds(runtime: Runtime) -> None:
    entrypoint = "test.flaky"
    attempts: Counter[str] = Counter()
    started: list[float] = []

    async def fails_twice(_: Runtime, payload: dict[str, Any]) -> None:
        attempts[payload["n"]] += 1
        started.append(time.monotonic())
        if attempts[payload["n"]] <= 2:
            raise Boom(f"attempt {attempts[payload['n']]} fails")

    payload = {"n": uuid.uuid4().hex}

    async def succeeded() -> bool:
        return attempts[payload["n"]] >= 3 and await jobs_rows(runtime, entrypoint) == []

    try:
        async with running(runtime, [JobSpec(entrypoint, fails_twice)]):
            async with transaction(runtime.sessions) as session:
                await enqueue(session, entrypoint, payload)
            await wait_until(succeeded, within=20, what="the flaky job to succeed")
            await asyncio.sleep(0.3)
        assert attempts == {payload["n"]: 3}
        # Backoff: retry_delay(0) and retry_delay(1) are at least half the capped delay (0.5 s).
        gaps = [later - earlier for earlier, later in itertools.pairwise(started)]
        assert all(gap >= 0.2 for gap in gaps), gaps
    finally:
        await delete_jobs(runtime, entrypoint)


async def test_a_job_failing_every_attempt_is_held_then_requeued_from_the_cli(
    runtime: Runtime, postgres_url: str, tmp_path: Path
) -> None:
    entrypoint = "test.dead"
    max_attempts = 3
    attempts: Counter[str] = Counter()
    exhausted: list[tuple[dict[str, Any], str]] = []

    async def always_fails(_: Runtime, payload: dict[str, Any]) -> None:
        attempts[payload["n"]] += 1
        raise Boom(f"attempt {attempts[payload['n']]} fails")

    async def on_exhausted(_: Runtime, payload: dict[str, Any], error: str) -> None:
        exhausted.append((payload, error))

    payload = {"n": uuid.uuid4().hex}
    few_attempts = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update={"job_max_attempts": max_attempts})
    )

    async def held() -> bool:
        return [row["status"] for row in await jobs_rows(runtime, entrypoint)] == ["failed"]

    try:
        async with running(few_attempts, [JobSpec(entrypoint, always_fails, on_exhausted)]):
            async with transaction(runtime.sessions) as session:
                await enqueue(session, entrypoint, payload)
            await wait_until(held, within=20, what="the job to be held as failed")
            await asyncio.sleep(0.5)  # nothing more happens to a held job
        assert attempts == {payload["n"]: max_attempts}
        assert exhausted == [(payload, f"attempt {max_attempts} fails")]
        [row] = await jobs_rows(runtime, entrypoint)
        assert (row["status"], row["attempts"], row["payload"]) == (
            "failed",
            max_attempts - 1,  # PgQueuer counts the retries it was asked for
            body_of(payload),
        )
        job_id = row["id"]

        # The operator's side, as a real process against the same database.
        env = cachet_env(database_url=postgres_url, data_dir=str(tmp_path / "cli"))
        listed = await run_cachet("jobs", "failed", env=env, cwd=tmp_path)
        assert listed.returncode == 0, listed
        [line] = [line for line in listed.stdout.splitlines() if line.startswith(f"{job_id}\t")]
        fields = line.split("\t")
        assert fields[1:3] == [entrypoint, f"runs={max_attempts}"], line
        assert fields[-1] == body_of(payload).decode(), line

        retried = await run_cachet("jobs", "retry", str(job_id), env=env, cwd=tmp_path)
        assert (retried.returncode, retried.stdout) == (0, f"queued again: {job_id}\n"), retried
        [row] = await jobs_rows(runtime, entrypoint)
        assert (row["id"], row["status"], row["attempts"]) == (job_id, "queued", 0)
    finally:
        await delete_jobs(runtime, entrypoint)
