"""Run the upload gate off the event loop, in a pool of resource-capped worker processes.

Parsing hostile PDFs happens in C++ (qpdf) and pure Python (pyHanko); either can be made to
spin or to allocate without end. Each worker process therefore runs with an address-space cap
(RLIMIT_AS), each task with a CPU-time cap (RLIMIT_CPU: the kernel kills a worker that spins),
and each call with a wall-clock timeout, after which the stuck workers are killed. The pool is
long-lived, so an ordinary upload costs no process start.

Failure handling:
- the task raised MemoryError                -> "too_complex"; the pool is retired gracefully.
- the call outlived wall_seconds             -> "too_complex"; the pool's workers are killed.
- a worker died (SIGXCPU, OOM, crash)        -> the executor fails every task in flight with
  BrokenProcessPool, including innocent ones; a task that was not alone on the pool is retried
  once in a private one-worker pool, so only the culprit ends as "too_complex".
- the service itself was killed (SIGKILL, OOM) -> each worker sees it go and exits, and the
  forkserver with them: nothing is left running.

Besides the gate's own check, run() offers the same caps to other work on a file that passed
it (signature validation: pyHanko's diff analysis of a hostile file can be slow).
"""

import asyncio
import io
import math
import multiprocessing
import os
import pathlib
import resource
import select
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TypeVar

import pikepdf
from pyhanko.pdf_utils.reader import PdfFileReader

from app.observability.metrics import count_pdf_refusal
from app.pdf.inspection import inspect_pdf
from app.pdf.limits import GateLimits
from app.pdf.results import PageGeometry, PdfInfo, PdfRejected, RejectionCode

__all__ = [
    "GateLimits",
    "PageGeometry",
    "PdfGate",
    "PdfInfo",
    "PdfRejected",
    "RejectionCode",
    "inspect_pdf",
]

T = TypeVar("T")

# forkserver, not fork: the parent runs an event loop and threads, whose locks a forked child
# would inherit in whatever state they were in.
_START_METHOD = "forkserver"
_WATCH_STACK_BYTES = 256 * 1024
_WATCH_POLL_SECONDS = 1.0


def _start_worker(memory_bytes: int, service_pid: int, prepare: Callable[[], None] | None) -> None:
    """Worker initializer: finish imports and warm caches (and whatever else the pool's owner
    asks for), then cap memory and core dumps."""
    _warm_up_parsers()
    if prepare is not None:
        prepare()
    _exit_with(service_pid)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a worker killed by SIGXCPU dumps no core
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _exit_with(service_pid: int) -> None:
    """Leave when the service does, however it ends.

    A service killed outright (SIGKILL, the OOM killer) cannot shut its pool down. Each worker
    holds its task queue's write end itself, so it would wait on that queue forever, and keep
    the forkserver alive with it. Started before the memory cap, with a small stack.
    """
    previous = threading.stack_size(_WATCH_STACK_BYTES)
    try:
        watch = threading.Thread(
            target=_wait_for_exit, args=(service_pid,), name="gate-service-watch", daemon=True
        )
        watch.start()
    finally:
        threading.stack_size(previous)


def _wait_for_exit(pid: int) -> None:
    try:
        process = os.pidfd_open(pid)  # readable once the process has exited
    except ProcessLookupError:
        os._exit(0)
    except OSError:  # a kernel without pidfd (before 5.3): ask now and then instead
        while _exists(pid):
            time.sleep(_WATCH_POLL_SECONDS)
        os._exit(0)
    select.select([process], [], [])
    os._exit(0)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or the pid is someone else's now
        return False
    return True


def _warm_up_parsers() -> None:
    buffer = io.BytesIO()
    with pikepdf.new() as pdf:
        pdf.add_blank_page()
        pdf.save(buffer)
    buffer.seek(0)
    PdfFileReader(buffer, strict=True).root["/Pages"]


def _inspect_in_worker(path: str, limits: GateLimits, allow_signatures: bool) -> PdfInfo:
    return inspect_pdf(pathlib.Path(path), limits, allow_signatures=allow_signatures)


def _call_in_worker(cpu_seconds: int, function: Callable[..., T], *args: object) -> T:
    _arm_cpu_limit(cpu_seconds)
    try:
        return function(*args)
    finally:
        _disarm_cpu_limit()


def _arm_cpu_limit(seconds: int) -> None:
    # RLIMIT_CPU counts the process's whole life, so the cap is "time used so far + budget".
    # Only the soft limit moves: an unprivileged process could never raise a lowered hard one.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime) + seconds
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _disarm_cpu_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))


def _no_op() -> None:
    return None


@dataclass
class _Pool:
    executor: ProcessPoolExecutor
    workers: int
    in_flight: int = 0


class PdfGate:
    """Checks uploads in worker processes; share one instance for the whole application.

    The same machinery runs the service's other work on untrusted PDFs (signing, archiving)
    in a pool of its own: `prepare`, if given, runs once in each worker before its caps are
    set (to load keys and fonts, say); it must pickle.
    """

    def __init__(
        self, limits: GateLimits, workers: int = 2, prepare: Callable[[], None] | None = None
    ) -> None:
        if workers < 1:
            raise ValueError("the gate needs at least one worker")
        self._limits = limits
        self._workers = workers
        self._prepare = prepare
        # One task per worker at most, so that a task's wall clock starts when a worker takes it,
        # not while it waits in the executor's queue behind slower uploads. (A cancelled check
        # frees its slot while its worker still finishes the task, at most cpu_seconds later.)
        self._slots = asyncio.Semaphore(workers)
        self._pool = self._new_pool(workers)

    async def warm_up(self) -> None:
        """Start every worker now (optional), so the first uploads do not pay for it."""
        await asyncio.gather(*map(asyncio.wrap_future, _start_workers(self._pool)))

    async def check(self, path: pathlib.Path, *, allow_signatures: bool = False) -> PdfInfo:
        """Inspect the PDF at `path` in a worker; raise PdfRejected if it is refused.

        Signed files are refused ("already_signed") unless allow_signatures is set, which is
        for files that are validated, never signed.
        """
        try:
            return await self.run(_inspect_in_worker, str(path), self._limits, allow_signatures)
        except PdfRejected as rejected:
            count_pdf_refusal(rejected.code)
            raise

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """Call function(*args) in a worker, under the gate's CPU, wall-clock and memory caps.

        function and args must pickle (a module-level function, plain values). Exceeding a cap
        raises PdfRejected("too_complex"); whatever the function raises is raised here.
        """
        async with self._slots:
            pool = self._pool
            pool.in_flight += 1
            try:
                return await self._run(pool, function, args)
            except BrokenProcessPool:
                alone = pool.in_flight == 1
                self._replace(pool, kill=True)
                if alone:
                    raise _too_complex("the worker process died (CPU limit or crash)") from None
                return await self._run_in_private_pool(function, args)
            except TimeoutError:
                self._replace(pool, kill=True)
                raise _too_complex(
                    f"processing the file took longer than {self._limits.wall_seconds} s"
                ) from None
            except MemoryError:
                self._replace(pool, kill=False)
                raise _too_complex("processing the file ran out of memory") from None
            finally:
                pool.in_flight -= 1

    async def aclose(self) -> None:
        """Stop the workers; tasks still queued are cancelled."""
        executor = self._pool.executor
        await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    async def _run(self, pool: _Pool, function: Callable[..., T], args: tuple[object, ...]) -> T:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            pool.executor, _call_in_worker, self._limits.cpu_seconds, function, *args
        )
        return await asyncio.wait_for(future, timeout=self._limits.wall_seconds)

    async def _run_in_private_pool(self, function: Callable[..., T], args: tuple[object, ...]) -> T:
        """Second chance for a task whose worker died under someone else's upload."""
        pool = self._new_pool(1)
        pool.in_flight = 1
        try:
            return await self._run(pool, function, args)
        except (BrokenProcessPool, TimeoutError, MemoryError):
            raise _too_complex(
                "processing the file exceeded the gate's CPU, time or memory limit"
            ) from None
        finally:
            _kill_workers(pool.executor)

    def _new_pool(self, workers: int) -> _Pool:
        executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context(_START_METHOD),
            initializer=_start_worker,
            initargs=(self._limits.memory_bytes, os.getpid(), self._prepare),
        )
        return _Pool(executor, workers)

    def _replace(self, pool: _Pool, *, kill: bool) -> None:
        """Swap in a fresh pool, once, however many tasks saw the old one fail."""
        if self._pool is not pool:
            return
        self._pool = self._new_pool(self._workers)
        _start_workers(self._pool)  # now, rather than within the next upload's wall time
        if kill:
            _kill_workers(pool.executor)
        else:
            pool.executor.shutdown(wait=False)  # running tasks finish, then the workers exit


def _start_workers(pool: _Pool) -> list[Future[None]]:
    # The executor starts a process per submission while none is idle, so one trivial task per
    # worker, submitted at once, starts them all.
    return [pool.executor.submit(_no_op) for _ in range(pool.workers)]


def _kill_workers(executor: ProcessPoolExecutor) -> None:
    # ProcessPoolExecutor can only kill its workers from Python 3.14 (kill_workers()); until
    # then its process table is the one handle on them.
    for process in list((executor._processes or {}).values()):
        process.kill()
    executor.shutdown(wait=False, cancel_futures=True)


def _too_complex(detail: str) -> PdfRejected:
    return PdfRejected("too_complex", detail)
