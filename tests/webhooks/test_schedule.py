"""The retry schedule: each delay within its jitter band, then None."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from app.config import parse_durations
from app.webhooks.schedule import next_retry_delay

SCHEDULE = parse_durations("5s,5m,30m,2h,5h,10h,14h,20h,24h")  # the configured default


def test_each_failure_waits_its_scheduled_delay_within_ten_percent() -> None:
    rng = random.Random(7)
    for failed_attempts, scheduled in enumerate(SCHEDULE, start=1):
        for _ in range(200):
            delay = next_retry_delay(SCHEDULE, failed_attempts, rng=rng)
            assert delay is not None
            assert scheduled * 0.9 <= delay <= scheduled * 1.1


def test_jitter_uses_the_whole_band() -> None:
    rng = random.Random(7)
    delays = [next_retry_delay([timedelta(hours=1)], 1, rng=rng) for _ in range(1000)]
    seconds = [delay.total_seconds() for delay in delays if delay is not None]
    assert min(seconds) < 3600 * 0.92
    assert max(seconds) > 3600 * 1.08


def test_the_same_seed_gives_the_same_delays() -> None:
    first = [next_retry_delay(SCHEDULE, n, rng=random.Random(42)) for n in range(1, 10)]
    again = [next_retry_delay(SCHEDULE, n, rng=random.Random(42)) for n in range(1, 10)]
    assert first == again
    assert first[0] != SCHEDULE[0]  # jittered, not the bare schedule


def test_without_jitter_the_schedule_is_exact() -> None:
    assert next_retry_delay(SCHEDULE, 3, jitter=0) == timedelta(minutes=30)


def test_an_exhausted_schedule_gives_none() -> None:
    assert next_retry_delay(SCHEDULE, len(SCHEDULE)) is not None
    assert next_retry_delay(SCHEDULE, len(SCHEDULE) + 1) is None
    assert next_retry_delay([], 1) is None


@pytest.mark.parametrize(("failed_attempts", "jitter"), [(0, 0.1), (1, -0.1), (1, 1.0)])
def test_nonsense_arguments_are_refused(failed_attempts: int, jitter: float) -> None:
    with pytest.raises(ValueError, match=r"retry|jitter"):
        next_retry_delay(SCHEDULE, failed_attempts, jitter=jitter)
