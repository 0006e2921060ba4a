"""GET /metrics: Prometheus text for the operator's scraper, not part of the API (left out of
the OpenAPI schema). It names no tenant; keep it to the internal network all the same."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Response

from app.api.deps import RuntimeDep
from app.jobs.admin import queue_counts
from app.observability.metrics import CONTENT_TYPE, render

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(runtime: RuntimeDep) -> Response:
    async with runtime.sessions() as session:
        queue = await queue_counts(session)
    # Reading every process's files in multiprocess mode is file I/O: off the event loop.
    body = await anyio.to_thread.run_sync(render, queue)
    return Response(body, media_type=CONTENT_TYPE)
