"""GET /metrics: Prometheus text for the operator's scraper, not part of the API (left out of
the OpenAPI schema). It names no tenant; keep it to the internal network all the same."""

from __future__ import annotations

import asyncio
import logging

import anyio
from fastapi import APIRouter, Response
from sqlalchemy.exc import SQLAlchemyError

from app.api.deps import RuntimeDep
from app.jobs.admin import queue_counts
from app.observability.metrics import CONTENT_TYPE, QueueCount, render

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

# Under Prometheus's default scrape timeout (10 s): a slow database costs the queue gauges,
# not the whole scrape.
QUEUE_READ_SECONDS = 5.0


@router.get("/metrics")
async def metrics(runtime: RuntimeDep) -> Response:
    queue = await _queue(runtime)
    # Reading every process's files in multiprocess mode is file I/O: off the event loop.
    body = await anyio.to_thread.run_sync(render, queue)
    return Response(body, media_type=CONTENT_TYPE)


async def _queue(runtime: RuntimeDep) -> list[QueueCount]:
    """The queue as the database has it; nothing (the gauges left out) when it cannot say: the
    scrape still shows the requests failing and whatever else the processes counted."""
    try:
        async with asyncio.timeout(QUEUE_READ_SECONDS), runtime.sessions() as session:
            return await queue_counts(session)
    except (TimeoutError, OSError, SQLAlchemyError) as error:
        log.warning("metrics: the job queue could not be read: %s", error)
        return []
