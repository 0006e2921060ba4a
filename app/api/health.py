"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.api.deps import RuntimeDep
from app.api.problems import problem_response, problems
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
    responses=problems(503),
)
async def readyz(runtime: RuntimeDep) -> Readiness | JSONResponse:
    """The database answers and its schema is at the latest migration."""
    try:
        async with runtime.engine.connect() as connection:
            revision = await current_revision(connection)
    except Exception:
        return _not_ready("the database does not answer", database="unreachable")
    if revision != head_revision():
        return _not_ready(
            f"the schema is at {revision}, the code expects {head_revision()}",
            database="ok",
            migrations="behind",
        )
    return Readiness(status="ok", database="ok", migrations="at_head")


def _not_ready(detail: str, *, database: str, migrations: str = "unknown") -> JSONResponse:
    return problem_response(
        503, "not_ready", "Not ready", detail, database=database, migrations=migrations
    )
