"""A service that dies without shutting its gate down (SIGKILL, the OOM killer) leaves no workers.

Each worker holds its task queue's write end itself, so without a watch of its own it would
wait on that queue forever, and keep the forkserver alive with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SERVICE = """
import asyncio, sys
from app.pdf.gate import PdfGate, GateLimits

async def main():
    gate = PdfGate(GateLimits(), workers=2)
    await gate.warm_up()
    print(" ".join(str(pid) for pid in gate._pool.executor._processes), flush=True)
    await asyncio.sleep(600)

if __name__ == "__main__":
    asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):  # the latter: gone between open and read
        return False
    return state != "Z"  # a zombie has exited; only its parent's reaping is left


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_gate_workers_and_forkserver_exit_when_the_service_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "service.py"
    script.write_text(SERVICE)
    service = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert service.stdout is not None
        workers = [int(pid) for pid in service.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(pid) for pid in workers)
        forkserver = _parent_of(workers[0])
        assert forkserver != service.pid and _alive(forkserver)
    finally:
        service.send_signal(signal.SIGKILL)
        service.wait()

    left = [*workers, forkserver]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(map(_alive, left)):
        time.sleep(0.1)
    survivors = [pid for pid in left if _alive(pid)]
    for pid in survivors:  # never leave them behind, even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert survivors == [], f"still running after the service was killed: {survivors}"


WATCHER = """
import os, sys
from app.pdf import gate

def no_pidfd(pid):
    raise OSError(38, "Function not implemented")

if __name__ == "__main__":
    os.pidfd_open = no_pidfd
    print("watching", flush=True)
    gate._wait_for_exit(int(sys.argv[1]))
"""


def test_without_pidfd_a_worker_still_notices_the_service_is_gone(tmp_path: Path) -> None:
    """Kernels before 5.3 have no pidfd: the watch then asks about the process now and then."""
    script = tmp_path / "watcher.py"
    script.write_text(WATCHER)
    service = subprocess.Popen(["sleep", "60"])
    watcher = subprocess.Popen(
        [sys.executable, str(script), str(service.pid)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None and watcher.stdout.readline() == "watching\n"
        time.sleep(1.5)
        assert watcher.poll() is None, "the watch ended while the service was running"
        service.kill()
        service.wait()  # reaped: only now is the pid gone
        assert watcher.wait(timeout=10) == 0
    finally:
        for process in (service, watcher):
            process.kill()
            process.wait()
