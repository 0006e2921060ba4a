"""create_app(): the FastAPI application and the lifespan that builds and tears down its runtime."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
from fastapi import FastAPI  # noqa: TID251  (create_app builds the FastAPI application)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.api import (
    credits,
    dev,
    dev_identity,
    docs,
    documents,
    envelopes,
    events,
    health,
    metrics,
    pki,
    providers,
    recipient,
    recipients,
    signing_page,
    stamps,
    users,
    validations,
    webhooks,
    workflow,
)
from app.api.body_guard import BodyGuardMiddleware
from app.api.body_limit import BodyLimitMiddleware
from app.api.problems import document_problems, install_problem_handlers
from app.api.request_id import RequestIdMiddleware
from app.api.request_log import RequestLogMiddleware
from app.clock import Clock
from app.config import Settings, get_settings
from app.credits.service import grant_once
from app.crypto import SecretBox, load_secret_key
from app.db import (
    EmbeddedPostgres,
    create_engine,
    create_sessionmaker,
    ensure_database_exists,
    resolve_database_url,
)
from app.db import transaction as db_transaction
from app.files import private_folder, write_private
from app.jobs.worker import Worker
from app.migrations import upgrade_to_head
from app.notifications.mailer import build_mailer
from app.pdf.gate import GateLimits, PdfGate
from app.production import require_production_ready
from app.providers.factory import build_sms_provider, require_sms_settings
from app.providers.identity_factory import build_identity_provider, require_idv_settings
from app.runtime import Runtime
from app.sender.site import sender_site
from app.signing.keys import Seal, load_seal
from app.signing.pool import prepare_signer
from app.storage.backends import open_blob_store
from app.tenants.service import DEVELOPMENT_TENANT_NAME, ensure_development_key, find_tenant
from app.worker import JOB_SPECS, remove_stale_temp_files

API_DESCRIPTION = """\
Cachet runs approval and signature envelopes for a file-sharing platform.

Authenticate with `Authorization: Bearer <API key>`. Errors are RFC 9457
`application/problem+json` with a stable `type` (`urn:cachet:problem:<code>`).
"""


def signing_pool(settings: Settings) -> PdfGate:
    """The capped worker processes where pyHanko signs; each loads the seal once."""
    limits = GateLimits(
        cpu_seconds=settings.signing_cpu_seconds,
        wall_seconds=settings.signing_wall_seconds,
        memory_bytes=settings.signing_memory_bytes,
    )
    return PdfGate(
        limits, workers=settings.signing_workers, prepare=partial(prepare_signer, settings)
    )


def gate_limits(settings: Settings) -> GateLimits:
    return GateLimits(
        max_pages=settings.pdf_max_pages,
        max_objects=settings.pdf_max_objects,
        max_nesting_depth=settings.pdf_max_nesting_depth,
        max_form_fields=settings.pdf_max_form_fields,
        max_form_depth=settings.pdf_max_form_depth,
        max_revisions=settings.pdf_max_revisions,
        cpu_seconds=settings.pdf_gate_cpu_seconds,
        wall_seconds=settings.pdf_gate_wall_seconds,
        memory_bytes=settings.pdf_gate_memory_bytes,
    )


async def start_runtime(settings: Settings) -> Runtime:
    require_production_ready(settings)  # `cachet serve` checked already; uvicorn alone did not
    private_folder(settings.data_dir)
    secret_key = load_secret_key(settings)
    # Before the database too: a signing, SMS or identity-provider misconfiguration stops the
    # start with its own message.
    seal = await anyio.to_thread.run_sync(load_seal, settings)
    require_sms_settings(settings)
    require_idv_settings(settings)
    url, embedded = await anyio.to_thread.run_sync(resolve_database_url, settings)
    try:
        if embedded is not None:
            await ensure_database_exists(url)
        if settings.auto_migrate:
            await anyio.to_thread.run_sync(upgrade_to_head, url)
        engine = create_engine(url, pool_size=settings.db_pool_size)
    except BaseException:
        if embedded is not None:
            embedded.stop()
        raise
    runtime = _runtime(settings, url, engine, secret_key, embedded, seal)
    await remove_stale_temp_files(runtime)
    # An API process that runs no jobs signs only at send (the fields) and for validations:
    # its signing workers start with the first of those, not N API processes times two at start.
    await _warm_up_pools(runtime, gate=True, signing=settings.run_jobs)
    return runtime


async def _warm_up_pools(runtime: Runtime, *, gate: bool, signing: bool) -> None:
    """Gate workers import pikepdf and pyHanko (~0.5 s); signing workers also load the seal and
    prepare the stamp font (~2 s): at start, not on the first upload or signature. A pool not
    warmed up starts its workers when first used."""
    wanted = ((runtime.pdf_gate, gate), (runtime.signing_pool, signing))
    await asyncio.gather(*(pool.warm_up() for pool, warm in wanted if warm))


async def start_worker_runtime(settings: Settings, url: str) -> Runtime:
    """What `cachet worker` needs: the database it was given, no HTTP side."""
    require_production_ready(settings)
    private_folder(settings.data_dir)
    secret_key = load_secret_key(settings)
    seal = await anyio.to_thread.run_sync(load_seal, settings)
    engine = create_engine(url, pool_size=settings.db_pool_size)
    runtime = _runtime(settings, url, engine, secret_key, None, seal)
    await remove_stale_temp_files(runtime)
    await _warm_up_pools(runtime, gate=False, signing=True)  # no upload is checked here
    return runtime


async def prepare_shared_database(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """What the parent of several API processes (`cachet serve --workers N`) does once for them
    all, before they start: the embedded PostgreSQL (when no database URL is set; the caller
    stops it after the last process), the migrations, the development secret key and API key.
    The processes are then given the URL and run no migrations of their own."""
    require_production_ready(settings)
    private_folder(settings.data_dir)
    load_secret_key(settings)  # in development: generated here once, not raced for by N processes
    url, embedded = await anyio.to_thread.run_sync(resolve_database_url, settings)
    try:
        if embedded is not None:
            await ensure_database_exists(url)
        if settings.auto_migrate:
            await anyio.to_thread.run_sync(upgrade_to_head, url)
        if settings.is_development:
            engine = create_engine(url, pool_size=1)
            try:
                await provision_development_key(settings, create_sessionmaker(engine), Clock())
            finally:
                await engine.dispose()
    except BaseException:
        if embedded is not None:
            embedded.stop()
        raise
    return url, embedded


def _runtime(
    settings: Settings,
    url: str,
    engine: AsyncEngine,
    secret_key: str,
    embedded: EmbeddedPostgres | None,
    seal: Seal,
) -> Runtime:
    secrets = SecretBox(secret_key)
    return Runtime(
        settings=settings,
        database_url=url,
        engine=engine,
        sessions=create_sessionmaker(engine),
        blobs=open_blob_store(settings),
        pdf_gate=PdfGate(gate_limits(settings), workers=settings.pdf_gate_workers),
        signing_pool=signing_pool(settings),
        clock=Clock(),
        mailer=build_mailer(settings),
        secrets=secrets,
        sms=build_sms_provider(settings, callback_token=secrets.provider_token("sms")),
        identity=build_identity_provider(settings),
        seal=seal,
        embedded_postgres=embedded,
    )


async def stop_runtime(runtime: Runtime) -> None:
    await runtime.sms.aclose()
    await runtime.identity.aclose()
    await runtime.pdf_gate.aclose()
    await runtime.signing_pool.aclose()
    await anyio.to_thread.run_sync(runtime.seal.close)  # a PKCS#11 session, if there is one
    await runtime.engine.dispose()
    if runtime.embedded_postgres is not None:
        # Here and not after uvicorn.run(): uvicorn re-raises SIGTERM once it has shut down.
        await anyio.to_thread.run_sync(runtime.embedded_postgres.stop)


# What the seed's screen shows: "Crédits disponibles : 5", at each eIDAS level.
DEVELOPMENT_CREDITS = 5


async def provision_development_key(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    """First start in development: a tenant, its credits and a key a newcomer can use at once.
    Processes starting together (`--workers N`, or several `cachet serve`) take turns: the
    key file is written before the lock is let go, so the next one finds the key valid."""
    key_file = settings.dev_api_key_file
    async with db_transaction(sessions) as session:
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('cachet:dev-key'))"))
        known = key_file.read_text().strip() if key_file.exists() else None
        new_key = await ensure_development_key(session, known_key=known)
        tenant = await find_tenant(session, id_or_name=DEVELOPMENT_TENANT_NAME)
        await grant_once(
            session,
            tenant.id,
            DEVELOPMENT_CREDITS,
            now=clock.now(),
            reason="development tenant: starting credits",
        )
        if new_key is not None:
            key_file.unlink(missing_ok=True)
            write_private(key_file, (new_key + "\n").encode())
    # Printed, not logged: a log line never holds a key (a log store outlives a laptop), but a
    # newcomer's first start shows the key to use at once.
    print(f"development API key (also in {key_file}): {new_key or known}", file=sys.stderr)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await start_runtime(settings)
        app.state.runtime = runtime
        worker = Worker(runtime, JOB_SPECS) if settings.run_jobs else None
        try:
            if settings.is_development:
                await provision_development_key(settings, runtime.sessions, runtime.clock)
            if worker is not None:
                await worker.start()
            yield
        finally:
            if worker is not None:
                await worker.stop()
            await stop_runtime(runtime)

    app = FastAPI(
        title="Cachet",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        separate_input_output_schemas=False,
        # /docs is app/api/docs.py, with Swagger UI's files served here (FastAPI's own loads
        # them from a CDN: blank offline); no ReDoc, which would load from a CDN too.
        docs_url=None,
        redoc_url=None,
    )
    install_problem_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.json_body_limit_bytes)
    # Outside the body limit, which reads JSON bodies before any route: its waits are bounded too.
    app.add_middleware(BodyGuardMiddleware, timeout_seconds=settings.http_body_timeout_seconds)
    # Outside both limits, so that their refusals are counted and logged too.
    app.add_middleware(RequestLogMiddleware)
    app.add_middleware(RequestIdMiddleware)  # added last: outermost, so every answer has one
    for module in (health, users, envelopes, documents, recipients, stamps, workflow, events):
        app.include_router(module.router)
    for module in (recipient, webhooks, signing_page, docs):
        app.include_router(module.router)
    app.include_router(credits.router)
    app.include_router(pki.router)
    app.include_router(providers.router)
    app.include_router(validations.router)
    app.include_router(metrics.router)
    if settings.is_development:
        app.include_router(dev.router)
        app.include_router(dev_identity.router)
    if settings.serves_sender_app:
        # A mount, not a router: static files, out of the OpenAPI document.
        app.mount("/app", sender_site(), name="sender_app")
    _document_problems_in_openapi(app)
    return app


def _document_problems_in_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
