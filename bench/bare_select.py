"""A bare FastAPI endpoint answering one row from PostgreSQL through a raw asyncpg pool: the
floor of P5 (a read endpoint's throughput).

python -m bench.bare_select PORT DATABASE_URL
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, HTTPException, Request

QUERY = "SELECT id, status::text, name, created_at FROM envelopes WHERE id = $1"


def app_for(database_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
        app.state.pool = await asyncpg.create_pool(dsn, min_size=4, max_size=10)
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/envelopes/{envelope_id}")
    async def one(envelope_id: str, request: Request) -> dict[str, Any]:
        row = await request.app.state.pool.fetchrow(QUERY, envelope_id)
        if row is None:
            raise HTTPException(404)
        return dict(row)

    return app


if __name__ == "__main__":
    uvicorn.run(app_for(sys.argv[2]), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
