"""The worst files the PDF gate accepts, sent and signed: what pyHanko's work on them costs the
service's event loop (issue 10: parsing untrusted PDFs must not stall it; P2: < 50 ms).

In this process, as bench/signing.py's first part: a Runtime as `cachet serve` builds it
(embedded PostgreSQL, the development PKI and its TSA, the gate's worker processes), its job
worker off, driven over ASGI. For each file, at the gate's default limits: upload and send
(2 signers with text stamps; the gate checks the upload and adds the signature fields in its
worker processes), then each signer's signing job as the worker runs it
(apply_signature_job: pyHanko in the signing pool's worker processes; the second job also
adds B-LTA and the evidence PDF).
During each step a task sleeping 1 ms records how late it wakes (the loop's stall, as any
request would wait it out), and gc.callbacks time every garbage collection of this process:
its long pauses are full collections of the whole heap, set off by what pyHanko allocates.

Nothing fails on a missed target; errors (a refused upload, a job that did not apply) exit 1.

    python -m bench.gate_worst [--rounds 2] [--only NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import io
import logging
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pikepdf

from app.pdf.limits import GateLimits
from bench.signing import (
    InProcess,
    in_process_cachet,
    loop_lag,
    request_signature,
    run_job,
    sent_envelope,
)
from bench.signing_floor import signature_png
from tests.pdf import corpus

MIB = 1024 * 1024
P2_MS = 50.0
STEPS = ("upload + send", "signer 1 (B-T)", "signer 2 (+ B-LTA, evidence)")


def largest_object_count(limits: GateLimits) -> int:
    """Filler objects that bring a one-page file to the object cap exactly."""
    with pikepdf.open(io.BytesIO(corpus.plain_a4())) as pdf:
        return limits.max_objects - len(pdf.objects)


def files(limits: GateLimits) -> dict[str, Callable[[], bytes]]:
    objects = largest_object_count(limits)
    return {
        "1 page (reference)": corpus.plain_a4,
        f"{limits.max_pages} pages": lambda: corpus.pages(limits.max_pages),
        f"{limits.max_form_fields:,} form fields": lambda: corpus.form_fields(
            limits.max_form_fields
        ),
        f"{limits.max_revisions} revisions": lambda: corpus.updated_incrementally(
            limits.max_revisions
        ),
        "20,000 objects": lambda: corpus.many_objects(20_000),
        f"{limits.max_objects:,} objects": lambda: corpus.many_objects(objects),
    }


@dataclass
class Pauses:
    """Every garbage collection of this process while recording: (generation, seconds)."""

    recording: bool = False
    seen: list[tuple[int, float]] = field(default_factory=list)
    _started: float = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if not self.recording:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seen.append((info["generation"], time.perf_counter() - self._started))

    @contextlib.contextmanager
    def during(self) -> Iterator[list[tuple[int, float]]]:
        window: list[tuple[int, float]] = []
        self.seen, self.recording = window, True
        try:
            yield window
        finally:
            self.recording = False


@dataclass
class Step:
    seconds: list[float] = field(default_factory=list)
    lag_max: list[float] = field(default_factory=list)
    full_gc_max: list[float] = field(default_factory=list)


Results = dict[str, dict[str, Step]]


async def measured(pauses: Pauses, step: Step, work: Callable[[], Awaitable[object]]) -> object:
    with pauses.during() as collections:
        async with loop_lag() as lags:
            start = time.perf_counter()
            result = await work()
            step.seconds.append(time.perf_counter() - start)
    step.lag_max.append(max(lags, default=0.0))
    step.full_gc_max.append(max((s for gen, s in collections if gen == 2), default=0.0))
    return result


async def one_round(
    bench: InProcess, pauses: Pauses, data: bytes, tag: str, steps: dict[str, Step]
) -> None:
    envelope: Any = await measured(
        pauses, steps[STEPS[0]], lambda: sent_envelope(bench.api, data, tag)
    )
    for signer, name in enumerate(STEPS[1:]):
        request = await request_signature(bench, envelope, signer)
        await measured(pauses, steps[name], partial(run_job, bench, request))


async def measure(
    root: Path, chosen: dict[str, bytes], rounds: int, *, freeze: bool
) -> tuple[Results, list[str]]:
    pauses = Pauses()
    gc.callbacks.append(pauses)
    results: Results = {}
    try:
        async with in_process_cachet(root, signature_png()) as bench:
            await one_round(bench, pauses, corpus.plain_a4(), "warm-up", defaultdict(Step))
            if freeze:  # what the service could do once started: full collections skip it all
                gc.collect()
                gc.freeze()
            for number, (label, data) in enumerate(chosen.items()):
                steps = results[label] = defaultdict(Step)
                for index in range(rounds):
                    await one_round(bench, pauses, data, f"f{number}r{index}", steps)
            return results, bench.errors
    finally:
        gc.callbacks.remove(pauses)


def report(chosen: dict[str, bytes], results: Results, rounds: int, *, frozen: bool) -> None:
    print(
        f"Worst files the gate accepts (default limits), {rounds} envelope(s) each, 2 signers; "
        f"ms, worst over the rounds{'; start-up heap frozen (gc.freeze)' if frozen else ''}"
    )
    print(
        f"  {'file':<22} {'size':>9}  {'step':<30} {'time':>7} {'loop lag':>9} "
        f"{'full GC':>8}  P2 (< {P2_MS:.0f} ms)"
    )
    worst = 0.0
    for label, data in chosen.items():
        for index, name in enumerate(STEPS):
            step = results[label][name]
            lag = max(step.lag_max) * 1000
            worst = max(worst, lag)
            print(
                f"  {label if index == 0 else '':<22} "
                f"{(f'{len(data) / MIB:.2f} MiB' if index == 0 else ''):>9}  {name:<30} "
                f"{statistics.median(step.seconds) * 1000:7.0f} {lag:9.1f} "
                f"{max(step.full_gc_max) * 1000:8.1f}  {'holds' if lag < P2_MS else 'MISSED'}"
            )
    print(f"  worst stall: {worst:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2, help="envelopes per file")
    parser.add_argument("--only", help="the files whose name contains this text")
    parser.add_argument(
        "--freeze",
        action="store_true",
        help="gc.freeze() after start-up and a warm-up envelope: how much of the stall is the "
        "full collections' walk over the start-up heap",
    )
    args = parser.parse_args()
    for name in ("cachet", "pyhanko"):
        logging.getLogger(name).setLevel(logging.ERROR)
    builders = files(GateLimits())
    chosen = {
        label: build()
        for label, build in builders.items()
        if args.only is None or args.only in label
    }
    root = Path(tempfile.mkdtemp(prefix="cachet-gate-worst-", dir="/tmp"))
    try:
        results, errors = asyncio.run(measure(root, chosen, args.rounds, freeze=args.freeze))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(chosen, results, args.rounds, frozen=args.freeze)
    for error in errors:
        print(f"ERROR: {error}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
