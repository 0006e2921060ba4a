"""The service's Prometheus metrics: one family per thing an operator watches, one helper per
family, so that callers never spell a metric or label name.

No label carries a tenant, an envelope or any other id: each label value comes from a small
fixed set (route templates, entrypoints, codes, providers, outcomes), which keeps the number
of series bounded however many tenants there are.

Several processes (`cachet serve --workers N`, `cachet worker` on the same host) share their
metrics through prometheus_client's multiprocess mode when PROMETHEUS_MULTIPROC_DIR names a
directory: it must be set before this module is imported (prometheus_client reads it then),
and emptied before the processes start (reset_multiprocess_dir; share_between_processes does
both for a parent about to start them). Unset, the process's own registry is served. It is
prometheus_client's variable, not a CACHET_ setting, because it must be in the environment
before any import.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Requests answer in milliseconds, signatures (with a TSA and OCSP) in seconds.
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_SIGNING_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)

_requests = Histogram(
    "cachet_http_request_duration_seconds",
    "HTTP requests by method, route template and status",
    ["method", "route", "status"],
    buckets=_REQUEST_BUCKETS,
)
_job_runs = Counter(
    "cachet_job_runs",
    "Job runs by entrypoint and outcome (succeeded, retry, waiting, failed)",
    ["entrypoint", "outcome"],
)
_emails = Counter("cachet_emails", "Email delivery attempts by outcome (sent, failed)", ["outcome"])
_webhook_attempts = Counter(
    "cachet_webhook_deliveries",
    "Webhook delivery attempts by outcome (succeeded, retry, failed)",
    ["outcome"],
)
_signing = Histogram(
    "cachet_signing_duration_seconds",
    "Signing jobs (every document for one signer) by level and outcome",
    ["level", "outcome"],
    buckets=_SIGNING_BUCKETS,
)
_pdf_refusals = Counter("cachet_pdf_refusals", "Files the PDF gate refused, by code", ["code"])
_provider_calls = Counter(
    "cachet_provider_calls",
    "Calls to SMS and identity providers by kind, provider and outcome",
    ["kind", "provider", "outcome"],
)


# --- one helper per family ------------------------------------------------------------------


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """route is the route's template (/v1/envelopes/{envelope_id}), never the path asked for."""
    _requests.labels(method, route, str(status)).observe(seconds)


def count_job_run(entrypoint: str, outcome: str) -> None:
    _job_runs.labels(entrypoint, outcome).inc()


def count_email(outcome: str) -> None:
    _emails.labels(outcome).inc()


def count_webhook_attempt(outcome: str) -> None:
    _webhook_attempts.labels(outcome).inc()


def observe_signing(level: str, outcome: str, seconds: float) -> None:
    _signing.labels(level, outcome).observe(seconds)


def count_pdf_refusal(code: str) -> None:
    _pdf_refusals.labels(code).inc()


@contextmanager
def provider_call(
    kind: str, provider: str, outcomes: Mapping[type[Exception], str]
) -> Iterator[None]:
    """Counts the call in the block: "ok", the outcome of the first exception type in outcomes
    that matches what it raised ("refused", "unavailable"), or "error"."""
    try:
        yield
    except Exception as error:
        _provider_calls.labels(kind, provider, _outcome_of(error, outcomes)).inc()
        raise
    _provider_calls.labels(kind, provider, "ok").inc()


def _outcome_of(error: Exception, outcomes: Mapping[type[Exception], str]) -> str:
    for kind, outcome in outcomes.items():
        if isinstance(error, kind):
            return outcome
    return "error"


# --- the job queue, read at scrape time -----------------------------------------------------


@dataclass(frozen=True)
class QueueCount:
    """Jobs of one entrypoint in one state (queued, running, failed), and how long the oldest
    has been in it."""

    entrypoint: str
    state: str
    count: int
    oldest_seconds: float


class _QueueCollector(Collector):
    def __init__(self, counts: Iterable[QueueCount]) -> None:
        self._counts = list(counts)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily(
            "cachet_jobs",
            "Jobs in the queue by entrypoint and state",
            labels=["entrypoint", "state"],
        )
        age = GaugeMetricFamily(
            "cachet_jobs_oldest_age_seconds",
            "How long the oldest job of each entrypoint has been in its state",
            labels=["entrypoint", "state"],
        )
        for count in self._counts:
            jobs.add_metric([count.entrypoint, count.state], count.count)
            age.add_metric([count.entrypoint, count.state], count.oldest_seconds)
        yield jobs
        yield age


# --- exposition -----------------------------------------------------------------------------


def multiprocess_dir() -> Path | None:
    given = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    return Path(given) if given else None


def reset_multiprocess_dir() -> None:
    """Before the processes start: files of a previous run would add their counts to this one's."""
    directory = multiprocess_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    for left in directory.glob("*.db"):  # prometheus_client's files only, whatever else is there
        left.unlink(missing_ok=True)


def share_between_processes(directory: Path) -> None:
    """For a parent about to start processes that serve or count (uvicorn workers, say): they
    inherit the variable, so each imports prometheus_client in multiprocess mode, writing its
    counts under `directory` (emptied now). The parent's own registry stays as it was."""
    os.environ[MULTIPROCESS_DIR_VARIABLE] = str(directory)
    reset_multiprocess_dir()


def render(queue: Iterable[QueueCount]) -> bytes:
    """The text exposition: every process's metrics, then the queue as the database has it."""
    if multiprocess_dir() is None:
        processes = REGISTRY
    else:
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)  # type: ignore[no-untyped-call]
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(_QueueCollector(queue))
    return generate_latest(processes) + generate_latest(scraped)
