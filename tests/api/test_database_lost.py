"""A pooled connection broken under a request (PostgreSQL restarted, failed over, or the
backend killed): the pool does not ping before each use, so the request that meets it answers
503 `database_unavailable` with Retry-After, not a 500, and the pool replaces the connection."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request

from app.api.problems import _unexpected_error, lost_database
from app.runtime import Runtime


async def _broken_connection_error(runtime: Runtime) -> DBAPIError:
    """What a pooled connection raises once its backend is gone (killed from another one)."""
    async with runtime.engine.connect() as doomed:
        pid = await doomed.scalar(text("SELECT pg_backend_pid()"))
        async with runtime.engine.connect() as killer:
            killed = await killer.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert killed is True
        with pytest.raises(DBAPIError) as caught:
            await doomed.execute(text("SELECT 1"))
    return caught.value


async def test_a_killed_backend_is_recognised_as_a_lost_database(runtime: Runtime) -> None:
    assert lost_database(await _broken_connection_error(runtime))
    async with runtime.engine.connect() as fresh:  # the pool hands out a working one next
        assert await fresh.scalar(text("SELECT 1")) == 1


async def test_a_lost_database_answers_503_with_retry_after(runtime: Runtime) -> None:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    response = await _unexpected_error(request, await _broken_connection_error(runtime))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    body = json.loads(bytes(response.body))
    assert body["code"] == "database_unavailable"
    assert body["retry_after_seconds"] == 1


async def test_any_other_error_is_still_a_500(runtime: Runtime) -> None:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    response = await _unexpected_error(request, RuntimeError("a bug"))
    assert response.status_code == 500
    assert not lost_database(RuntimeError("a bug"))
