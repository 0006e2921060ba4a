"""Operators' view of the queue: jobs that failed every attempt, and putting them back."""

from __future__ import annotations

from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job
from pgqueuer.queries import Queries

from app.db import connect_raw


async def list_failed_jobs(url: str, *, limit: int = 100) -> list[Job]:
    connection = await connect_raw(url)
    try:
        return await Queries(AsyncpgDriver(connection)).list_failed_jobs(limit=limit)
    finally:
        await connection.close()


async def requeue_failed_jobs(url: str, job_ids: list[int]) -> None:
    connection = await connect_raw(url)
    try:
        await Queries(AsyncpgDriver(connection)).requeue_jobs(job_ids)  # type: ignore[arg-type]
    finally:
        await connection.close()
