"""Helpers for tests/test_cli.py: run the real `cachet` console script and watch its PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
import psutil
from sqlalchemy import make_url

from app.db import ensure_database_exists

CACHET = Path(sys.executable).parent / "cachet"


def cachet_env(**settings: str) -> dict[str, str]:
    """This process's environment without any CACHET_ variable, plus the given settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("CACHET_")}
    env.update({f"CACHET_{name.upper()}": value for name, value in settings.items()})
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


async def run_cachet(*args: str, env: dict[str, str], cwd: Path, within: float = 60) -> Completed:
    process = await asyncio.create_subprocess_exec(
        str(CACHET),
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Completed(process.returncode, stdout.decode(), stderr.decode())


# --- the embedded PostgreSQL of a data dir -------------------------------------------------------


def postmaster_processes(pgdata: Path) -> list[psutil.Process]:
    """Live (non-zombie) `postgres` postmasters whose command line names this pgdata."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        info: dict[str, Any] = proc.info
        if info["name"] != "postgres" or info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if any(str(pgdata) in arg for arg in info["cmdline"] or []):
            found.append(proc)
    return found


def with_children(processes: list[psutil.Process]) -> list[psutil.Process]:
    family = list(processes)
    for proc in processes:
        with suppress(psutil.Error):
            family.extend(proc.children(recursive=True))
    return family


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (pid not reused: psutil compares creation times) and not zombies."""
    living = []
    for proc in processes:
        with suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                living.append(proc)
    return living


def kill_postgres(pgdata: Path) -> list[int]:
    """Test cleanup: immediate shutdown of any server on this pgdata, SIGKILL after 5 s."""
    postmasters = postmaster_processes(pgdata)
    family = with_children(postmasters)
    for proc in postmasters:
        with suppress(psutil.Error):
            proc.send_signal(signal.SIGQUIT)
    _, still_running = psutil.wait_procs(family, timeout=5)
    for proc in still_running:
        with suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(still_running, timeout=5)
    return [proc.pid for proc in postmasters]


@dataclass(frozen=True)
class Postmaster:
    """What PGDATA/postmaster.pid says about the running server."""

    pid: int
    socket_dir: str
    port: int

    @classmethod
    def read(cls, pgdata: Path) -> Postmaster:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        return cls(pid=int(lines[0]), socket_dir=lines[4].strip(), port=int(lines[3]))

    async def fetchval(self, query: str, *args: Any) -> Any:
        conn = await asyncpg.connect(
            host=self.socket_dir, port=self.port, user="postgres", database="cachet"
        )
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()


@asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the test server, dropped afterwards: a `cachet` process that
    runs jobs must not share its queue with the session's app (another data directory)."""
    url = make_url(server_url).set(database=f"cachet_{uuid.uuid4().hex[:12]}")
    rendered = url.render_as_string(hide_password=False)
    await ensure_database_exists(rendered)
    try:
        yield rendered
    finally:
        conn = await asyncpg.connect(
            host=url.host or url.query.get("host"),
            port=url.port,
            user=url.username,
            password=url.password,
            database="postgres",
        )
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        finally:
            await conn.close()


# --- `cachet serve` ------------------------------------------------------------------------------


class ServeProcess:
    """A `cachet serve` child process, its combined stdout and stderr in a log file."""

    def __init__(self, process: asyncio.subprocess.Process, log_path: Path, port: int) -> None:
        self.process = process
        self.log_path = log_path
        self.base_url = f"http://127.0.0.1:{port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_ready(self, within: float = 60) -> httpx.Response:
        """Polls GET /readyz until 200; fails at once, with the output, if the process exits."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        last: str = "no answer"
        async with httpx.AsyncClient(base_url=self.base_url, timeout=5) as client:
            while loop.time() < deadline:
                if self.process.returncode is not None:
                    raise AssertionError(
                        f"cachet serve exited with {self.process.returncode} before being ready:\n"
                        + self.output()
                    )
                try:
                    response = await client.get("/readyz")
                except httpx.HTTPError as error:
                    last = repr(error)
                else:
                    if response.status_code == 200:
                        return response
                    last = f"{response.status_code} {response.text}"
                await asyncio.sleep(0.1)
        raise AssertionError(f"not ready after {within} s (last: {last}):\n{self.output()}")

    async def wait(self, within: float = 30) -> int:
        """The exit code; fails with the output when still running after `within` seconds."""
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            raise AssertionError(
                f"cachet serve still running after {within} s:\n{self.output()}"
            ) from None

    async def stop(self, sig: signal.Signals, within: float = 30) -> int:
        self.process.send_signal(sig)
        return await self.wait(within)


@asynccontextmanager
async def serving(
    data_dir: Path,
    *,
    log_name: str,
    command: str = "serve",
    args: Sequence[str] = (),
    **settings: str,
) -> AsyncIterator[ServeProcess]:
    """`cachet serve` (or another long-running command: `worker`) on a free port with this data
    dir, `args` after the command; SIGKILLed at exit if still running."""
    port = free_port()
    env = cachet_env(data_dir=str(data_dir), port=str(port), **settings)
    log_path = data_dir.parent / f"{log_name}.log"
    log: IO[bytes]
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            str(CACHET),
            command,
            *args,
            env=env,
            cwd=data_dir.parent,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        yield ServeProcess(process, log_path, port)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
