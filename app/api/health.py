"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.api.deps import RuntimeDep
from app.migrations import current_revision, head_revision

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    migrations: str


@router.get("/healthz", response_model=Health, operation_id="healthz")
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    operation_id="readyz",
    responses={503: {"model": Readiness}},
)
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """The database answers and its schema is at the latest migration."""
    try:
        async with runtime.engine.connect() as connection:
            revision = await current_revision(connection)
    except Exception:
        body = Readiness(status="unavailable", database="unreachable", migrations="unknown")
        return JSONResponse(body.model_dump(), status_code=503)
    at_head = revision == head_revision()
    body = Readiness(
        status="ok" if at_head else "unavailable",
        database="ok",
        migrations="at_head" if at_head else f"behind (at {revision}, head {head_revision()})",
    )
    return JSONResponse(body.model_dump(), status_code=200 if at_head else 503)
