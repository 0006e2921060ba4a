"""An app already started, served by a real uvicorn on loopback with `cachet serve`'s options."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from app.api.server import server_options
from app.config import Settings
from tests.support.cli import free_port


@asynccontextmanager
async def serve_app(app: FastAPI, settings: Settings) -> AsyncIterator[str]:
    """The server's base URL; the app's lifespan is the caller's (uvicorn runs none)."""
    port = free_port()
    options = {**server_options(settings), "host": "127.0.0.1", "port": port}
    config = uvicorn.Config(app, **{**options, "lifespan": "off", "log_level": "warning"})
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no start event)
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
