"""Engine benchmark: approval envelopes end to end, invitation latency (P7), jobs/s vs PgQueuer.

The real service runs as a process (`cachet serve`, worker inside) on a PostgreSQL server that
the bench starts, mailing through SMTP to a sink on loopback that timestamps each message as
its DATA completes, and posting webhooks to a receiver on loopback that counts them and
verifies each with `standardwebhooks`.

N approval envelopes with 3 approvers each are created as drafts first (not timed), then sent
at R envelopes/s; every approver opens the link of their invitation and approves as soon as it
arrives, over HTTP, so sends, approvals, emails and webhooks all overlap. Measured:

- invitation latency: /send response -> first approver's invitation at the SMTP sink (P7:
  p99 < 500 ms under 20 envelopes/s); also approve response -> next approver's invitation;
- envelopes/s: N over the drive (first send -> last envelope completed);
- jobs/s: PgQueuer jobs logged 'successful' (emails + webhook deliveries) over the time from
  the first send to the last email or webhook received, beside the work they did (emails
  sent + deliveries succeeded, from the database);
- webhooks received and verified; peak RSS of the service process;
- to explain the figures on a shared machine: the API's latencies as the bench sees them, CPU
  per envelope of the service, PostgreSQL and the bench, and what other processes took.

Floor, same server, same run (bench/engine_floor.py): bare PgQueuer, a no-op entrypoint with
the worker's batch size and concurrency, M jobs enqueued in batches; rounds before the service
starts and after it stops. Exits non-zero on errors (lost, duplicated or forged emails and
webhooks, an envelope not completed, a timeout), never on a missed target.

    python -m bench.engine [--envelopes 50] [--rate 20] [--floor-jobs 2000] [--no-webhooks]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import psutil
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from standardwebhooks import Webhook

from app.db import EmbeddedPostgres, connect_raw, ensure_database_exists, start_embedded_postgres
from bench.engine_floor import floor_rounds, prepare_floor_database
from bench.service import RssSampler, RunningService, free_port, running_service
from bench.statements import (
    StatementCount,
    preload_statement_stats,
    reset_statement_stats,
    statement_counts,
)
from bench.table import record

MIB = 1024 * 1024
APPROVERS = 3
# Per envelope: envelope.sent, envelope.completed, and invited/opened/approved per approver.
WEBHOOKS_PER_ENVELOPE = 2 + 3 * APPROVERS
CONNECTIONS = 32  # bound on the bench's requests in flight during the drive
DRAFTS_AT_ONCE = 8
FLOOR_ROUNDS = 2  # before the service starts, and again after it stops
WAIT_SECONDS = 60.0
P7_SECONDS = 0.5
P9_MS = 60.0
LINK_TOKEN = re.compile(r"/sign/([A-Za-z0-9_-]{20,})")


# --- receivers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    at: float  # time.perf_counter() when the message's DATA was complete
    raw: bytes


class TimedMailSink:
    """aiosmtpd handler on its own thread (so the timestamp does not wait for the bench's loop);
    each message is handed to the bench's loop, one queue per recipient address."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.inboxes: defaultdict[str, asyncio.Queue[Arrival]] = defaultdict(asyncio.Queue)
        self.received = 0
        self.last_at = 0.0

    async def handle_DATA(  # noqa: N802  (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        arrival = Arrival(time.perf_counter(), envelope.original_content or b"")
        try:
            for address in envelope.rcpt_tos:
                assert self.loop is not None
                self.loop.call_soon_threadsafe(self._deliver, address.lower(), arrival)
        except (AssertionError, RuntimeError):  # no bench loop yet, or no longer
            return "451 4.3.0 sink not listening"
        return "250 OK"

    def _deliver(self, address: str, arrival: Arrival) -> None:
        self.received += 1
        self.last_at = max(self.last_at, arrival.at)
        self.inboxes[address].put_nowait(arrival)

    async def next_for(self, address: str) -> Arrival:
        return await asyncio.wait_for(self.inboxes[address.lower()].get(), WAIT_SECONDS)


@contextlib.contextmanager
def smtp_sink() -> Iterator[tuple[TimedMailSink, int]]:
    sink, port = TimedMailSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def link_token(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = LINK_TOKEN.search(str(body.get_content()))
    if found is None:
        raise RuntimeError(f"no signing link in email {message['Subject']!r}")
    return found.group(1)


@dataclass
class WebhookCounter:
    """ASGI receiver: answers 200, verifies the signature, keeps what the report needs."""

    secret: str | None = None
    received: int = 0
    verified: int = 0
    message_ids: set[str] = field(default_factory=set)
    sequences: defaultdict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    last_at: float = 0.0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self._count({k.decode().lower(): v.decode() for k, v in scope["headers"]}, body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def _count(self, headers: dict[str, str], body: bytes) -> None:
        self.received += 1
        self.last_at = time.perf_counter()
        self.message_ids.add(headers.get("webhook-id", ""))
        if self.secret is not None:
            payload = Webhook(self.secret).verify(body, headers)  # raises when forged
            self.verified += 1
            data = payload["data"]
            self.sequences[data["envelope_id"]].append(data["sequence"])

    def out_of_order(self) -> int:
        return sum(seqs != sorted(seqs) for seqs in self.sequences.values())


@contextlib.asynccontextmanager
async def webhook_receiver() -> AsyncIterator[tuple[WebhookCounter, str]]:
    counter, port = WebhookCounter(), free_port()
    config = uvicorn.Config(counter, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no start event)
        await asyncio.sleep(0.02)
    try:
        yield counter, f"http://127.0.0.1:{port}/hook"
    finally:
        server.should_exit = True
        await task


# --- the service and its database -----------------------------------------------------------


@contextlib.contextmanager
def postgres(root: Path) -> Iterator[str]:
    """The embedded PostgreSQL, owned by the bench so that the floor can use it too."""
    embedded: EmbeddedPostgres = start_embedded_postgres(root / "postgres")
    try:
        asyncio.run(ensure_database_exists(embedded.url))
        if asyncio.run(preload_statement_stats(embedded.url)):
            embedded.stop()
            embedded = start_embedded_postgres(root / "postgres")
        yield embedded.url
    finally:
        embedded.stop()


def cachet_serve(
    root: Path, database_url: str, smtp_port: int, *, split: bool
) -> contextlib.AbstractContextManager[RunningService]:
    """`cachet serve` as bench/service.py starts it, but on our database and SMTP sink; with
    `split`, one API process and one `cachet worker` process (P7's setting)."""
    env = {
        "CACHET_DATABASE_URL": database_url,
        "CACHET_SMTP_HOST": "127.0.0.1",
        "CACHET_SMTP_PORT": str(smtp_port),
    }
    return running_service(root=root, env=env, workers=1 if split else 0)


def log_problems(path: Path) -> list[str]:
    """Lines of the service's log that say something went wrong."""
    lines = path.read_text(errors="replace").splitlines()
    return [line for line in lines if re.search(r"Traceback|ERROR|failed|exception", line)]


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its live descendants and the children it has reaped."""
    process = psutil.Process(pid)
    times = process.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
    return total


class CpuMeter:
    """CPU seconds spent by the service, PostgreSQL, the bench and the whole machine: the
    machine is shared, and what the others took explains a noisy run."""

    def __init__(self, service_pids: list[int], postmaster_pid: int) -> None:
        self.service_pids = service_pids  # the API process, and the worker when separate
        self.postmaster_pid = postmaster_pid
        self.start = self._now()
        self.spent: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {
            "service": sum(tree_cpu(pid) for pid in self.service_pids),
            "postgres": tree_cpu(self.postmaster_pid),
        }
        bench = psutil.Process().cpu_times()  # itself only: the service is its child
        now["bench"] = bench.user + bench.system
        machine = psutil.cpu_times()  # Linux: guest time is already inside user
        busy = ("user", "nice", "system", "irq", "softirq", "steal")
        now["machine"] = sum(getattr(machine, name, 0.0) for name in busy)
        now["wall"] = time.perf_counter()
        return now

    def __enter__(self) -> CpuMeter:
        self.start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._now()
        self.spent = {name: end[name] - self.start[name] for name in end}


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


# --- driving envelopes ----------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    id: str
    approvers: list[str]


@dataclass
class Drive:
    """What the envelopes' tasks record, in perf_counter seconds."""

    invitation: list[float] = field(default_factory=list)  # send response -> 1st invitation
    next_step: list[float] = field(default_factory=list)  # approve response -> next invitation
    sends: list[float] = field(default_factory=list)  # when each /send was issued
    completed: list[float] = field(default_factory=list)
    api: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    async def timed(self, name: str, request: Awaitable[httpx.Response]) -> httpx.Response:
        """The request's time as the bench sees it (its own pool's wait included)."""
        start = time.perf_counter()
        response = await request
        self.api[name].append(time.perf_counter() - start)
        return response


def ok(response: httpx.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        request = response.request
        raise RuntimeError(
            f"{request.method} {request.url.path}: {response.status_code} {response.text[:300]}"
        )
    body: dict[str, Any] = response.json()
    return body


async def create_draft(client: httpx.AsyncClient, api: dict[str, str], tag: str) -> Draft:
    """As tests/workflow/support.py does: one small document, three approvers in order."""
    body = {"kind": "approval", "name": f"Budget {tag}", "sender": {"email": "b@example.com"}}
    envelope = ok(await client.post("/v1/envelopes", json=body, headers=api), 201)
    path = f"/v1/envelopes/{envelope['id']}"
    upload = await client.post(
        f"{path}/documents",
        params={"filename": "budget.txt"},
        content=b"quarterly figures\n",
        headers={**api, "Content-Type": "application/octet-stream"},
    )
    ok(upload, 201)
    approvers = [f"approver{i}-{tag}@example.com" for i in range(1, APPROVERS + 1)]
    for i, address in enumerate(approvers, start=1):
        recipient = {"email": address, "first_name": f"Ap{i}"}
        ok(await client.post(f"{path}/recipients", json=recipient, headers=api), 201)
    return Draft(envelope["id"], approvers)


async def create_drafts(client: httpx.AsyncClient, api: dict[str, str], count: int) -> list[Draft]:
    run = uuid.uuid4().hex[:6]
    limit = asyncio.Semaphore(DRAFTS_AT_ONCE)

    async def one(index: int) -> Draft:
        async with limit:
            return await create_draft(client, api, f"{run}-{index}")

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def approve(client: httpx.AsyncClient, token: str, drive: Drive) -> str:
    """The recipient's browser: link token -> session -> approve; the envelope's status."""
    opened = await drive.timed("open", client.post("/v1/signing/sessions", json={"token": token}))
    headers = {"Authorization": f"Bearer {ok(opened, 201)['session_token']}"}
    approval = client.post("/v1/signing/approve", json={"comment": None}, headers=headers)
    return str(ok(await drive.timed("approve", approval), 200)["status"])


async def run_envelope(
    client: httpx.AsyncClient,
    api: dict[str, str],
    sink: TimedMailSink,
    draft: Draft,
    at: float,
    drive: Drive,
) -> None:
    await asyncio.sleep(max(0.0, at - time.perf_counter()))
    drive.sends.append(time.perf_counter())
    ok(await drive.timed("send", client.post(f"/v1/envelopes/{draft.id}/send", headers=api)), 200)
    acted = time.perf_counter()
    status = ""
    for index, address in enumerate(draft.approvers):
        arrival = await sink.next_for(address)
        (drive.next_step if index else drive.invitation).append(arrival.at - acted)
        status = await approve(client, link_token(arrival.raw), drive)
        acted = time.perf_counter()
    if status != "completed":
        raise RuntimeError(f"envelope {draft.id} is {status} after its last approval")
    drive.completed.append(acted)


async def drive_envelopes(
    client: httpx.AsyncClient,
    api: dict[str, str],
    sink: TimedMailSink,
    drafts: list[Draft],
    rate: float,
) -> Drive:
    """Every envelope's task waits for its send slot (i / rate), then follows its approvers."""
    drive = Drive()
    start = time.perf_counter() + 0.05
    await asyncio.gather(
        *(
            run_envelope(client, api, sink, draft, start + i / rate, drive)
            for i, draft in enumerate(drafts)
        )
    )
    return drive


# --- counting jobs in the database ----------------------------------------------------------

JOBS_SQL = """
SELECT entrypoint, count(*) FROM pgqueuer_log
WHERE status = 'successful' AND entrypoint <> 'sweep' GROUP BY entrypoint
"""
PENDING_SQL = (
    "SELECT count(*) FROM pgqueuer WHERE status IN ('queued', 'picked') AND entrypoint <> 'sweep'"
)
WORK_SQL = """
SELECT (SELECT count(*) FROM notifications WHERE status = 'sent'),
       (SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded')
"""


async def job_counts(database_url: str) -> dict[str, int]:
    connection: Any = await connect_raw(database_url)
    try:
        return {row[0]: row[1] for row in await connection.fetch(JOBS_SQL)}
    finally:
        await connection.close()


async def settled_counts(database_url: str) -> tuple[dict[str, int], int, int]:
    """Once the queue is empty and the log buffer flushed: jobs by entrypoint, emails sent,
    deliveries succeeded."""
    connection: Any = await connect_raw(database_url)
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while await connection.fetchval(PENDING_SQL):
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs still queued after {WAIT_SECONDS:.0f} s")
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # PgQueuer logs finished jobs in batches, every 0.1 s
        jobs = {row[0]: row[1] for row in await connection.fetch(JOBS_SQL)}
        emails, deliveries = await connection.fetchrow(WORK_SQL)
        return jobs, emails, deliveries
    finally:
        await connection.close()


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {WAIT_SECONDS:.0f} s")
        await asyncio.sleep(0.05)


# --- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    envelopes: int
    rate: float  # sends per second
    webhooks: bool  # register the receiver as an endpoint (else no delivery jobs at all)
    split: bool = True  # one API process and one worker process (else jobs in the API's)

    @property
    def expected_webhooks(self) -> int:
        return self.envelopes * WEBHOOKS_PER_ENVELOPE if self.webhooks else 0


@dataclass
class Result:
    plan: Plan
    drive: Drive
    drafts_seconds: float
    jobs: dict[str, int]
    emails_sent: int
    deliveries_succeeded: int
    emails_received: int
    webhooks: WebhookCounter
    side_effects_end: float
    rss_idle: int
    rss_peak: int
    cpu: dict[str, float]  # seconds over the drive and the drain
    statements: list[StatementCount]  # the service's, over the drive and the drain

    @property
    def drive_seconds(self) -> float:
        return max(self.drive.completed) - min(self.drive.sends)

    @property
    def jobs_seconds(self) -> float:
        return self.side_effects_end - min(self.drive.sends)

    @property
    def send_rate(self) -> float:
        span = max(self.drive.sends) - min(self.drive.sends)
        return (len(self.drive.sends) - 1) / span if span > 0 else float("nan")


async def measure_cachet(
    service: RunningService, sink: TimedMailSink, database_url: str, pg_pid: int, plan: Plan
) -> Result:
    sink.loop = asyncio.get_running_loop()
    api = {"Authorization": f"Bearer {service.api_key}"}  # recipients' requests go without
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with (
        webhook_receiver() as (webhooks, hook_url),
        httpx.AsyncClient(base_url=service.url, limits=limits, timeout=60) as client,
    ):
        if plan.webhooks:
            endpoint = await client.post(
                "/v1/webhook-endpoints", json={"url": hook_url}, headers=api
            )
            webhooks.secret = ok(endpoint, 201)["secret"]
        start = time.perf_counter()
        drafts = await create_drafts(client, api, plan.envelopes)
        drafts_seconds = time.perf_counter() - start
        before = await job_counts(database_url)
        await reset_statement_stats(database_url)
        with RssSampler(service.pid) as rss, CpuMeter(service.pids, pg_pid) as cpu:
            drive = await drive_envelopes(client, api, sink, drafts, plan.rate)
            expected = plan.expected_webhooks
            await wait_for(lambda: webhooks.received >= expected, f"{expected} webhooks")
            after, emails, deliveries = await settled_counts(database_url)
        statements = service_statements(await statement_counts(database_url))
    jobs = {name: count - before.get(name, 0) for name, count in after.items()}
    return Result(
        plan=plan,
        drive=drive,
        drafts_seconds=drafts_seconds,
        jobs=jobs,
        emails_sent=emails,
        deliveries_succeeded=deliveries,
        emails_received=sink.received,
        webhooks=webhooks,
        side_effects_end=max(webhooks.last_at, sink.last_at),
        rss_idle=rss.idle,
        rss_peak=rss.peak,
        cpu=cpu.spent,
        statements=statements,
    )


def service_statements(counts: list[StatementCount]) -> list[StatementCount]:
    """Without the bench's own polling of the queue and the work done."""
    mine = ("count(*) FROM pgqueuer", "FROM notifications WHERE status", "pg_stat_statements")
    return [c for c in counts if not any(part in c.query for part in mine)]


# --- the report -----------------------------------------------------------------------------


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def ms(values: list[float]) -> str:
    return f"{percentile(values, 50) * 1000:6.0f} / {percentile(values, 99) * 1000:5.0f} ms"


def p7_holds(result: Result) -> bool:
    """p99 under 500 ms, and the sends really went out at (nearly) the requested rate."""
    paced = result.send_rate >= 0.95 * result.plan.rate
    return paced and percentile(result.drive.invitation, 99) < P7_SECONDS


def report_rows(result: Result, floors: list[float]) -> list[tuple[str, str, str]]:
    floor = statistics.median(floors)
    jobs = sum(result.jobs.values())
    jobs_rate = jobs / result.jobs_seconds
    work = result.emails_sent + result.deliveries_succeeded
    hooks = result.webhooks
    expected_hooks = result.plan.expected_webhooks
    breakdown = ", ".join(f"{name} {count}" for name, count in sorted(result.jobs.items()))
    verdict = "HOLDS" if p7_holds(result) else "MISSED"
    cpu = result.cpu
    per_envelope = 1000 / result.plan.envelopes
    others = cpu["machine"] - cpu["service"] - cpu["postgres"] - cpu["bench"]
    statements = sum(count.calls for count in result.statements)
    return [
        (
            "envelopes/s (first send -> last completed)",
            f"{result.plan.envelopes / result.drive_seconds:8.1f}",
            f"drive {result.drive_seconds:.2f} s",
        ),
        ("Cachet jobs/s (PgQueuer 'successful')", f"{jobs_rate:8.0f}", f"{jobs} = {breakdown}"),
        ("PgQueuer floor jobs/s (no-op, median)", f"{floor:8.0f}", f"rounds {_joined(floors)}"),
        (
            "ratio Cachet / floor",
            f"{jobs_rate / floor:8.3f}",
            f"over {result.jobs_seconds:.2f} s: first send -> last email or webhook",
        ),
        (
            "work/s (emails sent + webhooks succeeded)",
            f"{work / result.jobs_seconds:8.0f}",
            f"{result.emails_sent} + {result.deliveries_succeeded}",
        ),
        (
            "invitation latency p50 / p99",
            ms(result.drive.invitation),
            f"P7 (p99 < {P7_SECONDS * 1000:.0f} ms at {result.plan.rate:g}/s): {verdict}",
        ),
        ("next invitation after approve p50 / p99", ms(result.drive.next_step), ""),
        ("emails received at the sink", f"{result.emails_received:8d}", ""),
        (
            "webhooks received",
            f"{hooks.received:8d}",
            f"of {expected_hooks}; {hooks.verified} verified, {len(hooks.message_ids)} ids, "
            f"{hooks.out_of_order()} envelopes out of order",
        ),
        ("API requests p50 / p99: send", ms(result.drive.api["send"]), ""),
        ("  open session (link token)", ms(result.drive.api["open"]), ""),
        ("  approve", ms(result.drive.api["approve"]), ""),
        (
            "CPU ms per envelope: service",
            f"{cpu['service'] * per_envelope:8.0f}",
            f"PostgreSQL {cpu['postgres'] * per_envelope:.0f}, "
            f"bench {cpu['bench'] * per_envelope:.0f}",
        ),
        (
            "statements per envelope (all processes)",
            f"{statements / result.plan.envelopes:8.0f}",
            f"per approval {statements / (result.plan.envelopes * APPROVERS):.0f}; "
            "requests, jobs and the queue, from pg_stat_statements",
        ),
        (
            f"machine busy ({psutil.cpu_count()} cores)",
            f"{cpu['machine'] / cpu['wall']:8.2f}",
            f"of which others {others / cpu['wall']:.2f} (other processes on this machine)",
        ),
        (
            "service RSS idle -> peak",
            f"{result.rss_idle / MIB:5.0f} -> {result.rss_peak / MIB:.0f} MiB",
            "",
        ),
    ]


def _joined(values: list[float]) -> str:
    return " ".join(f"{value:.0f}" for value in values)


def report_statements(result: Result, top: int) -> None:
    """The busiest statements, per envelope: where a cut in round trips would pay most."""
    if top:
        print(f"  busiest statements (calls per envelope), top {top}:")
    for count in result.statements[:top]:
        print(f"    {count.calls / result.plan.envelopes:6.1f}  {count.query[:150]}")


def report(result: Result, floors: list[float], problems: list[str]) -> None:
    print(
        f"{result.plan.envelopes} approval envelopes x {APPROVERS} approvers; drafts made in "
        f"{result.drafts_seconds:.1f} s; sends paced at {result.plan.rate:g}/s "
        f"(achieved {result.send_rate:.1f}/s); webhooks "
        + ("on" if result.plan.webhooks else "off (--no-webhooks)")
        + ("; one API process, one worker process" if result.plan.split else "; one process")
    )
    for label, value, note in report_rows(result, floors):
        print(f"  {label:<42} {value:<18} {note}".rstrip())
    if result.send_rate < 0.95 * result.plan.rate:
        print(f"  sends lagged behind {result.plan.rate:g}/s: P7 not shown at that rate")
    for line in problems[:10]:
        print(f"  service log: {line}")
    record_targets(result)


def record_targets(result: Result) -> None:
    """P7 and P9 for the closing table of `make bench`."""
    p99 = percentile(result.drive.invitation, 99) * 1000
    record(
        "P7",
        f"invitation p99 at {result.plan.rate:g}/s offered",
        f"{P7_SECONDS * 1000:.0f} ms target",
        f"{p99:.0f} ms",
        p99 / (P7_SECONDS * 1000),
        p7_holds(result),
    )
    cpu_ms = result.cpu["service"] * 1000 / result.plan.envelopes
    record(
        "P9",
        "service CPU per envelope",
        f"{P9_MS:.0f} ms target",
        f"{cpu_ms:.0f} ms",
        cpu_ms / P9_MS,
        cpu_ms <= P9_MS,
    )


def check(result: Result) -> list[str]:
    """Errors (not missed targets): anything lost, duplicated or unverified."""
    errors = []
    expected_hooks = result.plan.expected_webhooks
    hooks = result.webhooks
    if hooks.received != expected_hooks or len(hooks.message_ids) != hooks.received:
        errors.append(f"webhooks: {hooks.received} received, {len(hooks.message_ids)} distinct")
    if hooks.verified != hooks.received:
        errors.append(f"webhooks: only {hooks.verified} of {hooks.received} verified")
    if hooks.out_of_order():
        errors.append(f"webhooks out of order for {hooks.out_of_order()} envelopes")
    if result.emails_received != result.plan.envelopes * APPROVERS:
        errors.append(f"emails: {result.emails_received} received")
    return errors


def run(root: Path, plan: Plan, floor_jobs: int) -> tuple[Result, list[float]]:
    """Floor rounds before the service starts and after it stops, on the same server."""
    with postgres(root) as database_url, smtp_sink() as (sink, smtp_port):
        floor_url = asyncio.run(prepare_floor_database(database_url))
        floors = asyncio.run(floor_rounds(floor_url, floor_jobs, FLOOR_ROUNDS))
        pg_pid = postmaster_pid(root / "postgres")
        with cachet_serve(root, database_url, smtp_port, split=plan.split) as service:
            result = asyncio.run(measure_cachet(service, sink, database_url, pg_pid, plan))
        floors += asyncio.run(floor_rounds(floor_url, floor_jobs, FLOOR_ROUNDS))
    return result, floors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--envelopes", type=int, default=50)
    parser.add_argument("--rate", type=float, default=20.0, help="sends per second")
    parser.add_argument("--floor-jobs", type=int, default=2000)
    parser.add_argument(
        "--statements", type=int, default=0, metavar="N", help="print the N busiest statements"
    )
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="jobs inside the API process (the development default) instead of a worker process",
    )
    parser.add_argument(
        "--no-webhooks", action="store_true", help="no endpoint: emails only (to isolate them)"
    )
    args = parser.parse_args()
    plan = Plan(
        args.envelopes, args.rate, webhooks=not args.no_webhooks, split=not args.one_process
    )
    root = Path(tempfile.mkdtemp(prefix="cachet-engine-", dir="/tmp"))
    try:
        result, floors = run(root, plan, args.floor_jobs)
        problems = log_problems(root / "serve.log")
        if plan.split:
            problems += log_problems(root / "worker-1.log")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(result, floors, problems)
    report_statements(result, args.statements)
    errors = check(result)
    for error in errors:
        print(f"ERROR: {error}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
