"""When to try a delivery again: the configured schedule, with jitter so retries spread out."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta


def next_retry_delay(
    schedule: Sequence[timedelta],
    failed_attempts: int,
    *,
    rng: random.Random | None = None,
    jitter: float = 0.1,
) -> timedelta | None:
    """The wait before the next attempt, or None when the schedule is exhausted.

    After the first failed attempt the wait is schedule[0] ± jitter (a fraction), after the
    second schedule[1] ± jitter, and so on. Jitter keeps endpoints that failed together (an
    outage) from all being retried in the same second.
    """
    if failed_attempts < 1:
        raise ValueError("a retry follows at least one failed attempt")
    if not 0 <= jitter < 1:
        raise ValueError("jitter is a fraction in [0, 1)")
    if failed_attempts > len(schedule):
        return None
    factor = 1 + (rng or random).uniform(-jitter, jitter)
    return schedule[failed_attempts - 1] * factor
