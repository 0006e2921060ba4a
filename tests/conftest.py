"""Shared fixtures: one real PostgreSQL for the session, the app served over real HTTP."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser

from app.config import Environment, Settings
from app.db import ensure_database_exists, start_embedded_postgres
from app.main import create_app
from app.runtime import Runtime
from tests.signing.testpki import TestPki, start_test_pki
from tests.support import ApiClient
from tests.support.browser import chromium
from tests.support.cli import free_port
from tests.support.http_server import serve_app
from tests.support.seaweedfs import SeaweedFS
from tests.support.sinks import MailSink, smtp_server


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """CACHET_TEST_DATABASE_URL when given, else an embedded server for this run only."""
    given = os.environ.get("CACHET_TEST_DATABASE_URL")
    if given:
        yield given
        return
    embedded = start_embedded_postgres(tmp_path_factory.mktemp("pg") / "data")
    asyncio.run(ensure_database_exists(embedded.url))
    yield embedded.url
    embedded.stop()


@pytest.fixture(scope="session")
async def smtp() -> AsyncIterator[tuple[MailSink, int]]:
    """A real SMTP server on loopback that the service sends every email to."""
    async with smtp_server() as server:
        yield server


@pytest.fixture(scope="session")
def mail(smtp: tuple[MailSink, int]) -> MailSink:
    return smtp[0]


@pytest.fixture(scope="session")
def embedding_origin() -> str:
    """The origin of the platform page that frames the signing page in the embedded-signing
    tests (tests/web): a port kept for it, listed in CACHET_FRAME_ANCESTORS."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def settings(
    postgres_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    smtp: tuple[MailSink, int],
    test_pki: TestPki,
    embedding_origin: str,
) -> Settings:
    return Settings(
        env=Environment.development,
        database_url=postgres_url,
        data_dir=tmp_path_factory.mktemp("data"),
        migrate_on_start=True,
        smtp_host="127.0.0.1",
        smtp_port=smtp[1],
        # Short delays so that retries and re-queues happen within a test.
        webhook_retry_schedule="0.3s,0.3s,0.3s,0.3s,0.3s",
        job_retry_max_delay_seconds=0.5,
        job_transient_max_delay_seconds=1,
        job_heartbeat_timeout_seconds=4,
        sweep_interval_seconds=1,
        # The platform seal and TSA of the certomancer test PKI, served on loopback.
        signing_key_file=test_pki.seal_key_pem,
        signing_cert_file=test_pki.seal_cert_pem,
        signing_chain_file=test_pki.chain_pem,
        tsa_url=test_pki.tsa_url,
        # Signers' one-shot certificates (eIDAS advanced) from the test PKI's intermediate: the
        # seal's root vouches for them too, so every validator the tests run trusts them.
        **test_pki.issuing_ca_settings(),
        frame_ancestors=f"'self' {embedding_origin}",
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
def runtime(app: FastAPI) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


@pytest.fixture(scope="session")
async def base_url(app: FastAPI, settings: Settings) -> AsyncIterator[str]:
    """The app behind a real uvicorn on loopback, with the options `cachet serve` gives it
    (limits, no proxy believed): tests speak real HTTP to it."""
    async with serve_app(app, settings) as url:
        yield url


@pytest.fixture
async def api(base_url: str, runtime: Runtime) -> AsyncIterator[ApiClient]:
    """A client authenticated as a fresh tenant."""
    async with await ApiClient.for_new_tenant(base_url, runtime) as client:
        yield client


@pytest.fixture
async def other_api(base_url: str, runtime: Runtime) -> AsyncIterator[ApiClient]:
    """A second, unrelated tenant."""
    async with await ApiClient.for_new_tenant(base_url, runtime) as client:
        yield client


@pytest.fixture
def data_dir(settings: Settings) -> Path:
    return settings.data_dir


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPki]:
    """Root, intermediate, seal, TSA and OCSP certificates; TSA/OCSP/CRLs served on loopback."""
    pki = start_test_pki(tmp_path_factory.mktemp("test-pki"))
    yield pki
    pki.close()


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A short directory under /tmp for `cachet` processes (a unix socket path in it must stay
    under ~100 characters), removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="cachet-", dir="/tmp")).resolve()
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedFS]:
    """A real SeaweedFS S3 gateway on loopback, started only for the tests that ask for it.
    Each test keeps to its own key prefix; a test that stops a gateway starts its own."""
    gateway = SeaweedFS(Path(tempfile.mkdtemp(prefix="cachet-weed-", dir="/tmp")))
    try:
        gateway.start()
        yield gateway
    finally:
        gateway.stop()
        shutil.rmtree(gateway.folder, ignore_errors=True)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless chromium for the whole session (tests/web, tests/sender)."""
    async with chromium() as launched:
        yield launched
