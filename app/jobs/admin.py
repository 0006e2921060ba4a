"""Operators' view of the queue: jobs that failed every attempt, putting them back, and what
/metrics counts of it."""

from __future__ import annotations

from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job
from pgqueuer.queries import Queries
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import connect_raw
from app.observability.metrics import QueueCount


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


# Queued jobs are as old as the time since they became due (a delayed retry is not late);
# running and failed ones as old as the time since they were picked or failed.
_QUEUE_COUNTS = text(
    """
    SELECT entrypoint,
           CASE status WHEN 'queued' THEN 'queued' WHEN 'picked' THEN 'running' ELSE 'failed' END,
           count(*),
           extract(epoch FROM now() - min(CASE status WHEN 'queued'
                                              THEN least(execute_after, now())
                                              ELSE updated END))
    FROM pgqueuer
    WHERE status IN ('queued', 'picked', 'failed')
    GROUP BY 1, 2
    """
)


async def queue_counts(session: AsyncSession) -> list[QueueCount]:
    """What /metrics shows of the queue: read at each scrape, so every worker's jobs count."""
    rows = await session.execute(_QUEUE_COUNTS)
    return [
        QueueCount(entrypoint, state, count, float(oldest))
        for entrypoint, state, count, oldest in rows
    ]
