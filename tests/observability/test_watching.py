"""What an operator sees of a real eIDAS simple ceremony served over HTTP (an invitation
email, an SMS code, a signature, webhooks to a receiver): GET /metrics moves and names no
tenant; every log line, JSON or text, is free of the API key, the link token, the session
token, the code and the webhook secret; the JSON request lines carry what the README says."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from app.api import metrics as metrics_route
from app.db import transaction
from app.jobs.queue import enqueue
from app.observability.logs import JsonFormatter, TextFormatter
from app.observability.metrics import render
from app.runtime import Runtime
from tests.pdf import corpus
from tests.support import ApiClient
from tests.support.sinks import MailSink, WebhookReceiver, link_token
from tests.webhooks.test_delivery import registered_receiver
from tests.workflow.eidas_support import newest_code, sent_eidas_envelope, verify
from tests.workflow.signing_support import sign, signature_png, wait_until_signed
from tests.workflow.support import Recipient

ANY_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Lines(logging.Handler):
    """Formats at emit time, as a real handler does: a request's id is known only then."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.json: list[str] = []
        self.text: list[str] = []
        self._json, self._text = JsonFormatter(), TextFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.json.append(self._json.format(record))
        self.text.append(self._text.format(record))

    def parsed(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.json]


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler, root = Lines(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@dataclass
class Ceremony:
    """What a log line must never show, and what the test saw of the envelope."""

    envelope_id: str
    secrets: dict[str, str] = field(default_factory=dict)


async def _ceremony(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, receiver: WebhookReceiver
) -> Ceremony:
    tag = uuid.uuid4().hex[:8]
    envelope = await sent_eidas_envelope(api, runtime, tag, signers=1)
    ceremony = Ceremony(envelope["id"], {"API key": api.tenant_key})
    ceremony.secrets["webhook secret"] = str(receiver.secret)
    invitation = (await mail.wait_for(f"s0+{tag}@example.com"))[0]
    ceremony.secrets["link token"] = link_token(invitation)
    async with Recipient(base_url=base_url, timeout=30) as signer:
        assert (await signer.open(ceremony.secrets["link token"])).status_code == 201
        ceremony.secrets["session token"] = signer.headers["Authorization"].split()[1]
        assert (await signer.post("/v1/signing/otp")).status_code == 202
        code = await newest_code(base_url, envelope["recipients"][0]["id"])
        ceremony.secrets["one-time code"] = code
        assert (await verify(signer, code)).status_code == 200
        assert (await sign(signer, signature_png())).status_code == 202
        await wait_until_signed(signer)
    await receiver.wait_until(lambda r: "envelope.completed" in r.types())
    return ceremony


async def _scrape(base_url: str) -> Samples:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


async def test_metrics_move_and_name_no_tenant(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    before = await _scrape(base_url)
    async with registered_receiver(api) as (receiver, _):
        await _ceremony(api, base_url, mail, runtime, receiver)
    refused = await api.upload((await api.envelope())["id"], corpus.truncated())
    assert refused.status_code == 422
    after = await _scrape(base_url)

    def moved(name: str, **labels: str) -> float:
        return _total(after, name, **labels) - _total(before, name, **labels)

    envelope_route = {"route": "/v1/envelopes/{envelope_id}", "method": "GET", "status": "200"}
    assert moved("cachet_http_request_duration_seconds_count", **envelope_route) >= 1
    assert moved("cachet_emails_total", outcome="sent") >= 1
    assert moved("cachet_webhook_deliveries_total", outcome="succeeded") >= 1
    assert moved("cachet_signing_duration_seconds_count", level="eidas_simple", outcome="signed")
    assert moved("cachet_pdf_refusals_total", code="damaged") == 1
    assert moved("cachet_provider_calls_total", kind="sms", provider="dev", outcome="ok") >= 1
    assert moved("cachet_job_runs_total", entrypoint="email.send", outcome="succeeded") >= 1
    # Route templates, never paths: no label holds an id of any kind, the tenant's least.
    every_label = {value for _, labels in after for _, value in labels}
    assert not any(str(api.tenant_id) in value for value in every_label)
    assert not [value for value in every_label if ANY_UUID.search(value)]


async def test_the_queue_is_read_at_each_scrape(base_url: str, runtime: Runtime) -> None:
    """A job no worker runs (its entrypoint is unknown), due in an hour: queued, not late."""
    async with transaction(runtime.sessions) as session:
        await enqueue(session, "observability.test", {}, delay=timedelta(hours=1))
    try:
        samples = await _scrape(base_url)
    finally:
        async with transaction(runtime.sessions) as session:
            await session.execute(
                text("DELETE FROM pgqueuer WHERE entrypoint = 'observability.test'")
            )
    queued = (("entrypoint", "observability.test"), ("state", "queued"))
    assert samples[("cachet_jobs", queued)] == 1
    assert samples[("cachet_jobs_oldest_age_seconds", queued)] == 0


async def test_log_lines_carry_the_fields_and_no_secret(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, lines: Lines
) -> None:
    async with registered_receiver(api) as (receiver, _):
        ceremony = await _ceremony(api, base_url, mail, runtime, receiver)
    seen = await api.get(f"/v1/envelopes/{ceremony.envelope_id}")

    for what, secret in ceremony.secrets.items():
        for written in lines.json + lines.text:
            assert secret not in written, f"the {what} is in a log line: {written}"
    parsed = lines.parsed()  # every JSON line is one JSON object
    requests = [line for line in parsed if line.get("event") == "request"]
    for line in requests:
        assert {"request_id", "route", "status", "duration_ms", "tenant_id"} <= line.keys()
    mine = next(line for line in requests if line["request_id"] == seen.headers["x-request-id"])
    assert mine["route"] == "/v1/envelopes/{envelope_id}" and mine["status"] == 200
    assert mine["tenant_id"] == str(api.tenant_id) and mine["method"] == "GET"
    assert isinstance(mine["duration_ms"], float)
    # A recipient's session names its envelope's tenant too.
    otp = next(line for line in requests if line["route"] == "/v1/signing/otp")
    assert otp["tenant_id"] == str(api.tenant_id) and otp["status"] == 202
    events = {line.get("event") for line in parsed}
    assert {"email", "webhook_attempt", "signing"} <= events
    signing = next(line for line in parsed if line.get("event") == "signing")
    assert signing["outcome"] == "signed" and signing["tenant_id"] == str(api.tenant_id)


async def test_odd_paths_and_methods_share_one_series(base_url: str) -> None:
    """A scanner's paths and made-up methods must not grow the number of series."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(2):
            nowhere = f"/nowhere/{uuid.uuid4()}"
            assert (await client.get(nowhere)).status_code == 404
            assert (await client.request("PROPFIND", nowhere)).status_code in (404, 405)
    samples = await _scrape(base_url)
    routes = {dict(labels).get("route") for _, labels in samples}
    methods = {dict(labels).get("method") for _, labels in samples} - {None}
    assert "<unmatched>" in routes
    assert not [route for route in routes if route and "nowhere" in route]
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}
    assert "OTHER" in methods


class _DatabaseDown:
    def sessions(self) -> Any:
        raise OSError("connection refused")


async def test_a_database_down_costs_the_queue_gauges_not_the_scrape() -> None:
    assert await metrics_route._queue(_DatabaseDown()) == []  # type: ignore[arg-type]
    assert b"cachet_http_request_duration_seconds" in render([])
