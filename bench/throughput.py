"""Signing throughput across worker processes (P8): two `cachet worker` processes sign at least
1.8x as many documents per second as one.

For each worker count (1, then 2), a fresh service: one API process that runs no jobs and that
many `cachet worker` processes, each with one signing process (CACHET_SIGNING_WORKERS=1), so
that a worker process is one core's worth of signing and two are this 2-core machine's worth.
N signature envelopes (a 1 MB PDF, two signers, a stamp each) are sent and every first signer
opens the link of their invitation (not timed); then all N sign at once, and the drive ends
when the tenant's event feed holds every signer's recipient.signed. Throughput: N / (first
POST /sign -> last recipient.signed seen). The floor is the same service with one worker
process, in the same run. Exits non-zero on errors (a signature not applied), never on a
missed target.

    python -m bench.throughput [--envelopes 24]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

import httpx
import psutil

from bench.engine import tree_cpu
from bench.service import RunningService, running_service
from bench.signing import (
    WAIT_SECONDS,
    SentEnvelope,
    invitation_token,
    ok,
    open_session,
    post_sign,
    sent_envelope,
)
from bench.signing_floor import image_pdf, signature_png
from bench.table import record

P8_RATIO = 1.8
Ready = list[tuple[SentEnvelope, dict[str, str]]]  # envelopes and their first signer's session


@dataclass(frozen=True)
class Drive:
    workers: int
    envelopes: int
    seconds: float
    cpu: list[float]  # CPU seconds during the drive: the API process, then each worker's tree
    machine_cores: float  # the whole machine's busy time over the drive, in cores

    @property
    def per_second(self) -> float:
        return self.envelopes / self.seconds


async def signers_ready(service: RunningService, count: int, pdf: bytes) -> Ready:
    """`count` sent envelopes, each with its first signer's session open."""
    headers = {"Authorization": f"Bearer {service.api_key}"}
    ready: Ready = []
    async with (
        httpx.AsyncClient(base_url=service.url, headers=headers, timeout=120) as api,
        httpx.AsyncClient(base_url=service.url, timeout=120) as browser,
    ):
        for index in range(count):
            envelope = await sent_envelope(api, pdf, f"p8-{index}")
            _, address = envelope.signers[0]
            session = await open_session(browser, await invitation_token(api, address))
            ready.append((envelope, session))
    return ready


async def sign_all(service: RunningService, ready: Ready) -> float:
    """Every first signer signs at once; seconds until the last signature is applied, as the
    tenant's event feed tells (one request per poll: polling each signer's view would load the
    API process more than the signing does)."""
    png = signature_png()
    headers = {"Authorization": f"Bearer {service.api_key}"}
    waiting = {str(envelope.signers[0][0]) for envelope, _ in ready}
    limits = httpx.Limits(max_connections=len(ready))
    async with (
        httpx.AsyncClient(base_url=service.url, timeout=300, limits=limits) as browser,
        httpx.AsyncClient(base_url=service.url, headers=headers, timeout=60) as api,
    ):
        cursor = await feed_end(api)
        start = time.perf_counter()
        await asyncio.gather(*(post_sign(browser, session, png) for _, session in ready))
        deadline = time.monotonic() + WAIT_SECONDS
        while waiting:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(waiting)} signatures not applied in {WAIT_SECONDS} s")
            page = ok(await api.get("/v1/events", params={"after": cursor, "limit": 500}), 200)
            cursor = page["next_cursor"]
            for event in page["data"]:
                if event["type"] == "recipient.signed":
                    waiting.discard(event["data"].get("recipient_id"))
            await asyncio.sleep(0.05)
        return time.perf_counter() - start


async def feed_end(api: httpx.AsyncClient) -> str | None:
    """The cursor after every event so far."""
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 500}
        if cursor:
            params["after"] = cursor
        page = ok(await api.get("/v1/events", params=params), 200)
        cursor = str(page["next_cursor"]) if page["next_cursor"] else None
        if not page["data"]:
            return cursor


def drive(workers: int, envelopes: int, pdf: bytes) -> Drive:
    env = {"CACHET_SIGNING_WORKERS": "1"}
    with running_service(env=env, workers=workers) as service:
        ready = asyncio.run(signers_ready(service, envelopes, pdf))
        before, machine_before = [tree_cpu(pid) for pid in service.pids], machine_busy()
        seconds = asyncio.run(sign_all(service, ready))
        cpu = [tree_cpu(pid) - start for pid, start in zip(service.pids, before, strict=True)]
        machine = (machine_busy() - machine_before) / seconds
    return Drive(workers, envelopes, seconds, cpu, machine)


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (PostgreSQL and the bench included)."""
    times = psutil.cpu_times()
    busy = ("user", "nice", "system", "irq", "softirq", "steal")
    return sum(getattr(times, name, 0.0) for name in busy)


def report(drives: list[Drive]) -> None:
    one, two = drives
    ratio = two.per_second / one.per_second
    verdict = "pass" if ratio >= P8_RATIO else "MISS"
    print(f"P8 signing throughput, {one.envelopes} signatures (1 MB PDF), one signing process each")
    for result in drives:
        api, *workers = (f"{seconds:.1f}" for seconds in result.cpu)
        print(
            f"  {result.workers} worker process(es): {result.per_second:6.2f} signatures/s"
            f"  ({result.seconds:.1f} s; CPU s: API {api}, workers {' + '.join(workers)};"
            f" machine busy {result.machine_cores:.2f} of {psutil.cpu_count()} cores)"
        )
    print(f"  ratio {ratio:.2f}x (target >= {P8_RATIO}x): {verdict}")
    record(
        "P8",
        "signing throughput, 2 worker processes vs 1",
        f"{one.per_second:.2f}/s (1 process)",
        f"{two.per_second:.2f}/s",
        ratio,
        ratio >= P8_RATIO,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--envelopes", type=int, default=24)
    args = parser.parse_args()
    pdf = image_pdf(1_000_000)
    report([drive(workers, args.envelopes, pdf) for workers in (1, 2)])


if __name__ == "__main__":
    main()
