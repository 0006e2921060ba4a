"""Start a throw-away Cachet (embedded PostgreSQL, temporary data dir) for a benchmark."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil


@dataclass(frozen=True)
class RunningService:
    url: str
    api_key: str
    pid: int
    worker_pids: tuple[int, ...] = ()  # `cachet worker` processes, when the API runs no jobs

    @property
    def pids(self) -> list[int]:
        return [self.pid, *self.worker_pids]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running_service(
    log_level: str = "warning",
    *,
    root: Path | None = None,
    env: Mapping[str, str] | None = None,
    workers: int = 0,
) -> Iterator[RunningService]:
    """`cachet serve` on a free port with its own data dir (embedded PostgreSQL unless `env`
    names a database). Under `root` (data/ and serve.log) when given, which the caller owns;
    otherwise in a temporary directory removed afterwards. With `workers`, the API process runs
    no jobs and that many `cachet worker` processes (worker-N.log) run them."""
    owned = root is None
    base = Path(tempfile.mkdtemp(prefix="cachet-bench-", dir="/tmp")) if root is None else root
    data_dir, port = base / "data", free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = {
        **os.environ,
        "CACHET_DATA_DIR": str(data_dir),
        "CACHET_PORT": str(port),
        "CACHET_LOG_LEVEL": log_level,
    }
    full_env.pop("CACHET_DATABASE_URL", None)
    full_env.update(env or {})
    if workers:
        full_env["CACHET_RUN_JOBS"] = "false"
    url = f"http://127.0.0.1:{port}"
    try:
        with (base / "serve.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", *_profiler(), "app.cli", "serve"],
                env=full_env,
                stdout=log,
                stderr=log,
            )
            try:
                wait_ready(url, process)
                key = (data_dir / "dev-api-key").read_text().strip()
                with contextlib.ExitStack() as stack:
                    worker_pids = tuple(
                        stack.enter_context(_worker(base / f"worker-{n}.log", full_env))
                        for n in range(1, workers + 1)
                    )
                    yield RunningService(url, key, process.pid, worker_pids)
            finally:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=60)
    finally:
        if owned:
            shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def _worker(log_path: Path, env: dict[str, str]) -> Iterator[int]:
    """`cachet worker` beside the API process (started once the API has migrated)."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            env={**env, "CACHET_RUN_JOBS": "true"},
            stdout=log,
            stderr=log,
        )
        try:
            _wait_for_line(log_path, "cachet worker: running", process)
            yield process.pid
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)


def _wait_for_line(log: Path, line: str, process: subprocess.Popen[bytes]) -> None:
    """The worker prints its line once its signing workers are warm and its queue listens:
    the bench measures the drive, not the worker's start."""
    deadline = time.monotonic() + 120
    while line not in log.read_text(errors="replace"):
        if process.poll() is not None:
            raise RuntimeError(f"cachet worker exited at start; see {log}")
        if time.monotonic() > deadline:
            raise TimeoutError("cachet worker did not start")
        time.sleep(0.1)


def _profiler() -> list[str]:
    """BENCH_PROFILE=out.prof runs the service under cProfile, CPU time of its event loop's
    thread (where the engine's CPU goes); read it with `python -m pstats out.prof`."""
    target = os.environ.get("BENCH_PROFILE")
    return ["bench.cpu_profile", target] if target else []


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("cachet serve exited before it was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError("cachet serve did not become ready")


@contextlib.contextmanager
def bare_endpoint(module: str = "bench.bare_upload", *args: str) -> Iterator[str]:
    """A floor's bare FastAPI app (`python -m module PORT *args`) in its own uvicorn process,
    like the service; its URL once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", module, str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{url}/docs", timeout=2)
                break
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


class RssSampler:
    """Peak RSS of one process, sampled every 20 ms on a thread (cheap next to the drive)."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.idle = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)
