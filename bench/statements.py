"""Statements the service sends to PostgreSQL, counted by pg_stat_statements on the bench's own
server: the engine bench divides them by envelopes and by approvals, and can name the busiest.

The library must be preloaded, so the bench restarts its embedded server once with it."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from app.db import connect_raw


async def preload_statement_stats(url: str) -> bool:
    """Asks the server to preload pg_stat_statements; True when a restart is needed for it."""
    conn = await connect_raw(url)
    try:
        loaded = await conn.fetchval("SHOW shared_preload_libraries")
        if "pg_stat_statements" in loaded:
            return False
        await conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        await conn.execute("ALTER SYSTEM SET pg_stat_statements.track = 'all'")
        return True
    finally:
        await conn.close()


async def reset_statement_stats(url: str) -> None:
    conn = await connect_raw(url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
    finally:
        await conn.close()


@dataclass(frozen=True)
class StatementCount:
    calls: int
    query: str


async def statement_counts(url: str) -> list[StatementCount]:
    """Calls per normalised statement on this database since the reset, busiest first; the
    bench's own reads (which mention pg_stat_statements or pgqueuer_log counts) left out."""
    conn: asyncpg.Connection = await connect_raw(url)
    try:
        rows = await conn.fetch(
            """
            SELECT s.calls, s.query FROM pg_stat_statements s
            JOIN pg_database d ON d.oid = s.dbid
            WHERE d.datname = current_database() AND s.query NOT ILIKE '%pg_stat_statements%'
            ORDER BY s.calls DESC
            """
        )
    finally:
        await conn.close()
    return [StatementCount(row["calls"], " ".join(row["query"].split())) for row in rows]
