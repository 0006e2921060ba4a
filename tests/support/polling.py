"""Waiting for what happens elsewhere (a job, an email, a webhook): poll, or fail saying what
did not happen in time. The one polling helper of the suite."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

POLL_EVERY = 0.05


async def eventually(
    probe: Callable[[], Awaitable[T]],
    condition: Callable[[T], bool],
    *,
    within: float = 20.0,
    what: str | Callable[[T], str] = "condition",
    every: float = POLL_EVERY,
) -> T:
    """Awaits `probe` until its value satisfies `condition` and returns that value; fails
    after `within` seconds saying `what` did not happen (a callable gets the last value)."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if condition(value):
            return value
        if time.monotonic() > deadline:
            said = what(value) if callable(what) else f"{what}; last: {value!r}"
            raise AssertionError(f"not within {within} s: {said}")
        await asyncio.sleep(every)


async def wait_until(
    condition: Callable[[], Awaitable[bool] | bool],
    *,
    within: float = 20.0,
    what: str | Callable[[], str] = "condition",
    every: float = POLL_EVERY,
) -> None:
    """Polls until condition() holds (it may be sync or async); `what` (a callable is called
    only on failure) says what did not happen."""

    async def probe() -> bool:
        result = condition()
        return await result if inspect.isawaitable(result) else result

    await eventually(
        probe,
        bool,
        within=within,
        what=lambda _: what() if callable(what) else what,
        every=every,
    )
