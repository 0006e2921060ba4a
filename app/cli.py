"""The `cachet` command: serve, worker, migrate, tenants, keys, blobs, evidence, jobs, archive."""

from __future__ import annotations

import argparse
import asyncio
import logging.config
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import anyio
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.server import server_options
from app.clock import system_now
from app.config import Settings, get_settings
from app.credits.service import PAID_LEVELS, balances, grant
from app.crypto import SecretBox, load_secret_key
from app.db import (
    create_engine,
    create_sessionmaker,
    ensure_database_exists,
    resolve_database_url,
    transaction,
)
from app.envelopes.models import Document, Envelope, Level
from app.errors import BadRequest, DomainError
from app.jobs.admin import list_failed_jobs, requeue_failed_jobs
from app.jobs.worker import Worker
from app.main import prepare_shared_database, start_worker_runtime, stop_runtime
from app.migrations import upgrade_to_head
from app.observability.logs import logging_config
from app.observability.metrics import (
    multiprocess_dir,
    reset_multiprocess_dir,
    share_between_processes,
)
from app.production import DATABASE, REQUIREMENTS, production_problems, refusal
from app.storage.backends import open_blob_store
from app.tenants.service import create_api_key, create_tenant, find_tenant
from app.worker import JOB_SPECS
from app.workflow.archive import Renewed, renew_archives
from app.workflow.evidence_audit import EvidenceAudit, audit_evidence
from app.workflow.models import SignatureRequest

APP_FACTORY = "app.main:create_app"


def serve(settings: Settings, workers: int | None = None) -> None:
    """One API process, or N behind one port (uvicorn's workers: separate processes, each with
    its own runtime, and its own job worker unless CACHET_RUN_JOBS=false)."""
    import uvicorn

    count = workers or settings.web_workers
    logs = process_logging(settings)
    if count == 1:
        reset_multiprocess_dir()
        uvicorn.run(APP_FACTORY, factory=True, log_config=logs, **server_options(settings))
        return
    if multiprocess_dir() is None:
        # N processes behind one port: /metrics must add up all of them, whichever answers.
        share_between_processes(settings.data_dir / "prometheus")
    else:
        reset_multiprocess_dir()
    # The processes build their settings from the environment: this one has the database
    # started and migrated for them all, and tells them where it is.
    url, embedded = asyncio.run(prepare_shared_database(settings))
    try:
        os.environ["CACHET_DATABASE_URL"] = url
        os.environ["CACHET_MIGRATE_ON_START"] = "false"
        uvicorn.run(
            APP_FACTORY, factory=True, log_config=logs, **server_options(settings, workers=count)
        )
    finally:
        # uvicorn's supervisor returns once its workers have stopped (SIGINT or SIGTERM).
        if embedded is not None:
            embedded.stop()


def process_logging(settings: Settings) -> dict[str, Any]:
    """CACHET_LOG_FORMAT for every logger of the process (uvicorn's too)."""
    return logging_config(settings.effective_log_format.value, settings.log_level)


@asynccontextmanager
async def database(settings: Settings, *, migrate: bool) -> AsyncIterator[str]:
    """The database URL, with the embedded server started (and stopped) when none is set."""
    url, embedded = await anyio.to_thread.run_sync(resolve_database_url, settings)
    try:
        if embedded is not None:
            await ensure_database_exists(url)
        if migrate:
            await anyio.to_thread.run_sync(upgrade_to_head, url)
        yield url
    finally:
        if embedded is not None:
            await anyio.to_thread.run_sync(embedded.stop)


async def in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[str]]) -> str:
    async with database(settings, migrate=settings.auto_migrate) as url:
        engine = create_engine(url, pool_size=1)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()


async def migrate(settings: Settings) -> str:
    async with database(settings, migrate=True):
        return "database schema at head"


async def new_tenant(settings: Settings, name: str) -> str:
    async def work(session: AsyncSession) -> str:
        tenant, key = await create_tenant(session, name=name)
        return f"tenant {tenant.id} ({tenant.name})\napi key: {key}"

    return await in_transaction(settings, work)


async def new_key(settings: Settings, tenant: str) -> str:
    async def work(session: AsyncSession) -> str:
        found = await find_tenant(session, id_or_name=tenant)
        key = await create_api_key(session, tenant_id=found.id)
        return f"api key for tenant {found.id} ({found.name}): {key}"

    return await in_transaction(settings, work)


async def referenced_blobs(session: AsyncSession) -> set[str]:
    """Every blob a row points to: each document version, evidence PDFs, signature images."""
    columns = (
        Document.sha256,
        Document.current_sha256,
        Document.signed_sha256,
        Envelope.evidence_sha256,
        SignatureRequest.image_sha256,
    )
    found: set[str] = set()
    for column in columns:
        found.update(h for h in await session.scalars(select(column).distinct()) if h)
    return found


async def sweep_blobs(settings: Settings, grace_seconds: float) -> str:
    async def work(session: AsyncSession) -> str:
        referenced = await referenced_blobs(session)
        store = open_blob_store(settings)
        removed = await store.sweep(referenced, older_than_seconds=grace_seconds)
        return f"removed {len(removed)} unreferenced blob(s)"

    return await in_transaction(settings, work)


async def verify_evidence(settings: Settings, envelope_id: str) -> str:
    try:
        parsed = uuid.UUID(envelope_id)
    except ValueError:
        raise BadRequest("invalid_id", f"{envelope_id!r} is not an envelope id") from None
    secrets = SecretBox(load_secret_key(settings))
    blobs = open_blob_store(settings)

    async def work(session: AsyncSession) -> str:
        audit = await audit_evidence(session, parsed, secrets=secrets, blobs=blobs)
        return describe_audit(audit)

    return await in_transaction(settings, work)


def describe_audit(audit: EvidenceAudit) -> str:
    lines = [f"evidence chain intact: {audit.length} events, last hash {audit.head}"]
    keyed = audit.length - audit.unkeyed
    lines.append(f"keyed: {keyed} of {audit.length} events carry a valid MAC; anchor matches")
    if audit.sealed is not None:
        length, head = audit.sealed
        lines.append(f"evidence PDF: stored, seals events 1-{length} (head {head})")
    return "\n".join(lines)


async def failed_jobs(settings: Settings) -> str:
    async with database(settings, migrate=False) as url:
        held = await list_failed_jobs(url)
    if not held:
        return "no failed jobs"
    return "\n".join(
        # PgQueuer counts retries: a job held after its last retry ran once more than that.
        f"{job.id}\t{job.entrypoint}\truns={job.attempts + 1}\t{job.updated:%Y-%m-%d %H:%M:%S}"
        f"\t{job.payload.decode() if job.payload else ''}"
        for job in held
    )


async def retry_jobs(settings: Settings, ids: list[int]) -> str:
    async with database(settings, migrate=False) as url:
        await requeue_failed_jobs(url, ids)
    return f"queued again: {', '.join(map(str, ids))}"


async def run_worker(settings: Settings) -> str:
    """Runs until SIGINT or SIGTERM; the job in hand is finished, or re-run by another worker."""
    async with database(settings, migrate=settings.auto_migrate) as url:
        runtime = await start_worker_runtime(settings, url)
        worker = Worker(runtime, JOB_SPECS)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await worker.start()
        print("cachet worker: running", flush=True)
        try:
            await stop.wait()
        finally:
            await worker.stop()
            await stop_runtime(runtime)
    return "cachet worker: stopped"


async def renew_archive_timestamps(settings: Settings, before_days: int | None) -> str:
    """What the periodic job does, now, with its own horizon if given; prints each renewal.
    Raises ArchiveRenewalFailed (exit 1) when an envelope could not be renewed."""
    days = settings.archive_renew_before_days if before_days is None else before_days
    async with database(settings, migrate=settings.auto_migrate) as url:
        runtime = await start_worker_runtime(settings, url)
        try:
            run = await renew_archives(runtime, before=timedelta(days=days))
        finally:
            await stop_runtime(runtime)
    lines = [
        f"renewed {_what(item)} of envelope {item.envelope_id}: "
        f"{item.signed_sha256} (archive valid until {item.expires_at:%Y-%m-%d})"
        for item in run.renewed
    ]
    lines.append(
        f"{len(run.renewed)} file(s) renewed (archive timestamps expiring within {days} days)"
    )
    if run.failed:
        failures = "\n".join(f"envelope {key}: {error}" for key, error in run.failed.items())
        raise ArchiveRenewalFailed(
            "archive_renewal_failed", "\n".join(lines) + f"\nnot renewed:\n{failures}"
        )
    return "\n".join(lines)


def _what(item: Renewed) -> str:
    return f"document {item.document_id}" if item.document_id else "the evidence PDF"


class ArchiveRenewalFailed(DomainError):
    status = 503


async def grant_credits(
    settings: Settings, tenant: str, level: str, amount: int, reason: str | None
) -> str:
    if amount <= 0:
        raise BadRequest("invalid_amount", "AMOUNT is a positive number of credits")

    async def work(session: AsyncSession) -> str:
        found = await find_tenant(session, id_or_name=tenant)
        now = system_now()
        await grant(session, found.id, Level(level), amount, now=now, reason=reason)
        balance = (await balances(session, found.id))[Level(level)]
        return f"granted {amount} {level} credit(s) to {found.name}: {balance.available} available"

    return await in_transaction(settings, work)


async def show_credits(settings: Settings, tenant: str) -> str:
    async def work(session: AsyncSession) -> str:
        found = await find_tenant(session, id_or_name=tenant)
        return "\n".join(
            f"{level.value}\tavailable {b.available}\treserved {b.reserved}\tconsumed {b.consumed}"
            for level, b in (await balances(session, found.id)).items()
        )

    return await in_transaction(settings, work)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="cachet", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser(
        "serve", help="run the HTTP service (with a job worker inside unless CACHET_RUN_JOBS=false)"
    )
    serve_parser.add_argument(
        "--workers",
        type=_positive,
        default=None,
        metavar="N",
        help="API processes on the one port (default: CACHET_WEB_WORKERS, 1)",
    )
    worker_parser = commands.add_parser(
        "worker", help="run a job worker; start as many as you like, on any host"
    )
    worker_parser.add_argument(
        "--concurrency",
        type=_positive,
        default=None,
        metavar="N",
        help="jobs this worker claims at a time, holding at most twice as many "
        "(default: CACHET_WORKER_CONCURRENCY, 10)",
    )
    commands.add_parser("migrate", help="upgrade the database schema to the latest revision")
    tenants = commands.add_parser("tenants", help="manage tenants").add_subparsers(
        dest="action", required=True
    )
    tenants.add_parser("create", help="create a tenant; prints its first API key").add_argument(
        "name"
    )
    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    keys.add_parser("create", help="create an API key for a tenant (id or name)").add_argument(
        "tenant"
    )
    blobs = commands.add_parser("blobs", help="manage stored files").add_subparsers(
        dest="action", required=True
    )
    sweep = blobs.add_parser("sweep", help="delete blobs no document refers to any more")
    sweep.add_argument(
        "--grace-seconds",
        type=float,
        default=3600.0,
        help="keep blobs younger than this (an upload may be adopting them)",
    )
    evidence = commands.add_parser("evidence", help="check evidence").add_subparsers(
        dest="action", required=True
    )
    evidence.add_parser(
        "verify", help="re-check an envelope's event chain and say where it breaks"
    ).add_argument("envelope_id")
    jobs = commands.add_parser("jobs", help="inspect background jobs").add_subparsers(
        dest="action", required=True
    )
    jobs.add_parser("failed", help="list jobs that failed every attempt (dead letters)")
    jobs.add_parser("retry", help="queue failed jobs again").add_argument(
        "job_ids", nargs="+", type=int
    )
    archive = commands.add_parser("archive", help="long-term validation").add_subparsers(
        dest="action", required=True
    )
    renew = archive.add_parser(
        "renew",
        help="renew the archive timestamps of signed documents that expire soon (what the "
        "periodic job archive.renew does)",
    )
    renew.add_argument(
        "--before-days",
        type=int,
        default=None,
        help="renew those whose timestamp certificate expires within N days "
        "(default: CACHET_ARCHIVE_RENEW_BEFORE_DAYS)",
    )
    _credit_commands(commands)
    return root


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _credit_commands(commands: Any) -> None:
    credit = commands.add_parser("credits", help="eIDAS credits of a tenant").add_subparsers(
        dest="action", required=True
    )
    grant_parser = credit.add_parser("grant", help="give a tenant credits at an eIDAS level")
    grant_parser.add_argument("tenant", help="tenant id or name")
    grant_parser.add_argument("level", choices=[level.value for level in PAID_LEVELS])
    grant_parser.add_argument("amount", type=int)
    grant_parser.add_argument("--reason", default=None, help="kept in the ledger")
    credit.add_parser("show", help="a tenant's balances").add_argument("tenant")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = get_settings()
    # The service itself needs every production setting; the other commands only the database.
    needed = REQUIREMENTS if args.command in ("serve", "worker") else (DATABASE,)
    problems = production_problems(settings, needed)
    if problems:
        print(f"cachet: {refusal(problems)}", file=sys.stderr)
        return 2
    if args.command in ("serve", "worker"):
        logging.captureWarnings(True)  # a Python warning is a log line too, in the same format
    if args.command == "serve":
        serve(settings, args.workers)
        return 0
    if args.command == "worker":
        logging.config.dictConfig(process_logging(settings))
        if args.concurrency is not None:
            settings = settings.model_copy(update={"worker_concurrency": args.concurrency})
    actions: dict[str, Callable[[], Awaitable[str]]] = {
        "migrate": lambda: migrate(settings),
        "tenants": lambda: new_tenant(settings, args.name),
        "keys": lambda: new_key(settings, args.tenant),
        "blobs": lambda: sweep_blobs(settings, args.grace_seconds),
        "worker": lambda: run_worker(settings),
        "evidence": lambda: verify_evidence(settings, args.envelope_id),
        "jobs": lambda: (
            failed_jobs(settings) if args.action == "failed" else retry_jobs(settings, args.job_ids)
        ),
        "archive": lambda: renew_archive_timestamps(settings, args.before_days),
        "credits": lambda: (
            grant_credits(settings, args.tenant, args.level, args.amount, args.reason)
            if args.action == "grant"
            else show_credits(settings, args.tenant)
        ),
    }
    try:
        print(asyncio.run(actions[args.command]()))  # type: ignore[arg-type]
    except DomainError as error:
        print(f"cachet: {error.detail}", file=sys.stderr)
        return 1
    except (OSError, SQLAlchemyError) as error:
        print(f"cachet: cannot reach the database: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
