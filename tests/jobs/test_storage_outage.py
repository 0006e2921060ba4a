"""A job that finds the document store (S3) down waits for it, like for any other service."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import pytest
from pgqueuer.errors import RetryRequested
from pgqueuer.models import Job

from app.config import Settings
from app.errors import StorageUnavailable
from app.jobs.worker import JobSpec, entrypoint_for


@dataclass
class Context:
    """All the worker reads of its context here is settings."""

    settings: Settings
    database_url: str = ""
    sessions: Any = None


async def test_a_storage_outage_is_retried_and_never_exhausts_the_job() -> None:
    exhausted: list[str] = []

    async def handler(context: Context, payload: dict[str, Any]) -> None:
        raise StorageUnavailable("storage_unavailable", "down", retry_after_seconds=30)

    async def on_exhausted(context: Context, payload: dict[str, Any], error: str) -> None:
        exhausted.append(error)

    settings = Settings(job_max_attempts=2)
    run = entrypoint_for(Context(settings), JobSpec("sign", handler, on_exhausted=on_exhausted))
    last_attempt = SimpleNamespace(payload=b"{}", attempts=5, entrypoint="sign", id=1)

    with pytest.raises(RetryRequested):
        await run(cast(Job, last_attempt))
    assert exhausted == []
