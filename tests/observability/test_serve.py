"""`cachet serve` as a real process in production's log format and multiprocess metrics: every
log line is JSON (uvicorn's own too) but the development key's, which is printed, not logged;
the request lines name routes; /metrics reads the processes' files."""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cli import kill_postgres, serving

DEV_KEY_LINE = "development API key (also in "


@pytest.fixture
def workdir() -> Iterator[Path]:
    """Short, under /tmp (the server's unix socket path); no PostgreSQL outlives the test."""
    root = Path(tempfile.mkdtemp(prefix="cachet-obs-", dir="/tmp")).resolve()
    try:
        yield root
    finally:
        kill_postgres(root / "data" / "postgres")
        shutil.rmtree(root, ignore_errors=True)


async def test_json_lines_and_shared_metrics(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics_dir = workdir / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_4242.db").write_bytes(b"left by a previous run")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    data_dir = workdir / "data"
    async with serving(data_dir, log_name="json", log_format="json") as server:
        await server.wait_ready(within=120)  # first start: initdb, migrations, pools
        key = (data_dir / "dev-api-key").read_text().strip()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            listed = await client.get("/v1/envelopes", headers={"Authorization": f"Bearer {key}"})
            assert listed.status_code == 200
            scraped = (await client.get("/metrics")).text
        assert await server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)  # uvicorn re-raises
    output = server.output()

    lines = output.splitlines()
    assert [line for line in lines if key in line] == [
        f"{DEV_KEY_LINE}{data_dir}/dev-api-key): {key}"
    ]
    plain = [line for line in lines if not line.startswith(("{", DEV_KEY_LINE))]
    assert plain == [], output
    parsed = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(line["logger"].startswith("uvicorn") for line in parsed)
    requests = [line for line in parsed if line.get("event") == "request"]
    listing = next(
        line for line in requests if line["request_id"] == listed.headers["x-request-id"]
    )
    assert listing["route"] == "/v1/envelopes" and listing["status"] == 200
    assert listing["tenant_id"] is not None

    assert not (metrics_dir / "counter_4242.db").exists()  # reset at start
    assert list(metrics_dir.glob("*.db"))
    samples = {
        (sample.name, sample.labels.get("route"))
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
    }
    assert ("cachet_http_request_duration_seconds_count", "/v1/envelopes") in samples
