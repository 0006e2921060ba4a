"""The service again, with CACHET_BLOB_URL=s3://…: its own database (so that its job worker
never takes another app's jobs), its own data directory, the session's SeaweedFS gateway.

The fixtures `settings`, `app`, `runtime` and `base_url` are redefined here, so the shared
fixtures built on them (`api`, `other_api`) speak to this service in the tests of this folder.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from sqlalchemy import make_url

from app.config import Settings
from app.db import ensure_database_exists
from app.main import create_app
from app.runtime import Runtime
from tests.support.http_server import serve_app
from tests.support.seaweedfs import ACCESS_KEY_ID, BUCKET, SECRET_ACCESS_KEY, SeaweedFS


@pytest.fixture(scope="session")
async def settings(
    settings: Settings, seaweedfs: SeaweedFS, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    url = make_url(settings.database_url or "").set(database="cachet_s3")
    database_url = url.render_as_string(hide_password=False)
    await ensure_database_exists(database_url)
    return settings.model_copy(
        update={
            "database_url": database_url,
            "data_dir": tmp_path_factory.mktemp("data-s3"),
            "blob_url": f"s3://{BUCKET}/service-{uuid.uuid4().hex}",
            "s3_endpoint": seaweedfs.endpoint,
            "s3_region": "us-east-1",
            "s3_access_key_id": ACCESS_KEY_ID,
            "s3_secret_access_key": SECRET_ACCESS_KEY,
            # One PDF worker of each kind: this second app lives beside the first one.
            "pdf_gate_workers": 1,
            "signing_workers": 1,
        }
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
    async with serve_app(app, settings) as url:
        yield url
