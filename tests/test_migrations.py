"""Migrations: head, base and head again on a scratch database; models and migrations agree."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import app.models  # noqa: F401
from app.db import Base
from app.migrations import downgrade_to_base, head_revision, is_model_table, upgrade_to_head
from tests.support.cli import fresh_database


@pytest.fixture
async def scratch_url(postgres_url: str) -> AsyncIterator[str]:
    async with fresh_database(postgres_url) as url:
        yield url


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        rows = await conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
        names = {row[0] for row in rows}
    await engine.dispose()
    return names


async def _diff(url: str) -> list[object]:
    def compare(sync: Connection) -> list[object]:
        context = MigrationContext.configure(
            sync, opts={"compare_type": True, "include_name": is_model_table}
        )
        return list(compare_metadata(context, Base.metadata))

    engine = create_async_engine(url)
    async with engine.connect() as conn:
        diff = await conn.run_sync(compare)
    await engine.dispose()
    return diff


QUEUE_TABLES = {"pgqueuer", "pgqueuer_log", "pgqueuer_schedules", "pgqueuer_statistics"}


async def test_upgrade_downgrade_upgrade(scratch_url: str) -> None:
    expected = set(Base.metadata.tables) | {"alembic_version"} | QUEUE_TABLES
    await anyio.to_thread.run_sync(upgrade_to_head, scratch_url)
    assert await _tables(scratch_url) == expected
    await anyio.to_thread.run_sync(downgrade_to_base, scratch_url)
    assert await _tables(scratch_url) == {"alembic_version"}
    await anyio.to_thread.run_sync(upgrade_to_head, scratch_url)
    assert await _tables(scratch_url) == expected


async def test_models_and_migrations_agree(scratch_url: str) -> None:
    await anyio.to_thread.run_sync(upgrade_to_head, scratch_url)
    assert await _diff(scratch_url) == []


def test_there_is_one_head() -> None:
    assert head_revision() is not None
