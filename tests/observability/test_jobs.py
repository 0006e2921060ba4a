"""A job that fails every attempt, as an operator sees it: one JSON line per failure (retry,
then failed; never the payload), the runs counted by outcome, and the held job in the queue
gauges with its age."""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.db import transaction
from app.jobs.admin import queue_counts
from app.jobs.queue import enqueue
from app.jobs.worker import JobSpec
from app.observability.logs import JsonFormatter
from app.observability.metrics import render
from app.runtime import Runtime
from tests.jobs.test_queue import delete_jobs, jobs_rows, running
from tests.support.polling import wait_until

ENTRYPOINT = "test.observed"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(JsonFormatter().format(record))


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler, root = Lines(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def _samples(runtime: Runtime) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with runtime.sessions() as session:
        text = render(await queue_counts(session)).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _runs(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], outcome: str) -> float:
    labels = (("entrypoint", ENTRYPOINT), ("outcome", outcome))
    return samples.get(("cachet_job_runs_total", labels), 0.0)


async def test_a_failing_job_is_logged_counted_and_shown_held(
    runtime: Runtime, lines: Lines
) -> None:
    async def always_fails(_: Runtime, payload: dict[str, Any]) -> None:
        raise ValueError("the handler gave up")

    secret = f"sealed-{uuid.uuid4().hex}"
    two_attempts = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update={"job_max_attempts": 2})
    )
    before = await _samples(runtime)

    async def held() -> bool:
        return [row["status"] for row in await jobs_rows(runtime, ENTRYPOINT)] == ["failed"]

    try:
        async with running(two_attempts, [JobSpec(ENTRYPOINT, always_fails)]):
            async with transaction(runtime.sessions) as session:
                await enqueue(session, ENTRYPOINT, {"sealed_code": secret})
            await wait_until(held, within=20, what="the job to be held as failed")
        after = await _samples(runtime)
    finally:
        await delete_jobs(runtime, ENTRYPOINT)

    assert not [line for line in lines.lines if secret in line]
    failures = [json.loads(line) for line in lines.lines]
    failures = [f for f in failures if f.get("event") == "job_failure"]
    assert [(f["outcome"], f["attempt"]) for f in failures] == [("retry", 1), ("failed", 2)]
    assert all(
        f["entrypoint"] == ENTRYPOINT and "the handler gave up" in f["message"] for f in failures
    )
    assert _runs(after, "retry") - _runs(before, "retry") == 1
    assert _runs(after, "failed") - _runs(before, "failed") == 1
    held_labels = (("entrypoint", ENTRYPOINT), ("state", "failed"))
    assert after[("cachet_jobs", held_labels)] == 1
    assert after[("cachet_jobs_oldest_age_seconds", held_labels)] >= 0
