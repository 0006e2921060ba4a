"""Multiprocess mode: with PROMETHEUS_MULTIPROC_DIR set, what several processes count is
served as one sum; reset_multiprocess_dir forgets a previous run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

COUNT = """
from app.observability.metrics import count_email, observe_request
count_email("sent")
observe_request("GET", "/v1/envelopes/{envelope_id}", 200, 0.01)
"""
RENDER = """
import sys
from app.observability.metrics import QueueCount, render
sys.stdout.write(render([QueueCount("email.send", "queued", 3, 1.5)]).decode())
"""
RESET = "from app.observability.metrics import reset_multiprocess_dir; reset_multiprocess_dir()"


def _run(code: str, directory: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_counts_of_several_processes_add_up(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    _run(RESET, directory)
    _run(COUNT, directory)
    _run(COUNT, directory)
    samples = _samples(_run(RENDER, directory))
    assert samples[("cachet_emails_total", (("outcome", "sent"),))] == 2
    route = (("method", "GET"), ("route", "/v1/envelopes/{envelope_id}"), ("status", "200"))
    assert samples[("cachet_http_request_duration_seconds_count", route)] == 2
    queued = (("entrypoint", "email.send"), ("state", "queued"))
    assert samples[("cachet_jobs", queued)] == 3
    assert samples[("cachet_jobs_oldest_age_seconds", queued)] == 1.5


def test_a_reset_forgets_the_previous_run_and_keeps_other_files(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    _run(RESET, directory)
    _run(COUNT, directory)
    (directory / "notes.txt").write_text("not prometheus_client's")
    _run(RESET, directory)
    samples = _samples(_run(RENDER, directory))
    assert ("cachet_emails_total", (("outcome", "sent"),)) not in samples
    assert (directory / "notes.txt").exists()


PARENT = f"""
import subprocess, sys
from pathlib import Path
from app.observability.metrics import share_between_processes
share_between_processes(Path(sys.argv[1]))
for _ in range(2):
    subprocess.run([sys.executable, "-c", {COUNT!r}], check=True)
shown = subprocess.run([sys.executable, "-c", {RENDER!r}], check=True, capture_output=True)
sys.stdout.write(shown.stdout.decode())
"""


def test_a_parent_shares_the_directory_with_the_processes_it_starts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    directory = tmp_path / "shared"
    done = subprocess.run(
        [sys.executable, "-c", PARENT, str(directory)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert _samples(done.stdout)[("cachet_emails_total", (("outcome", "sent"),))] == 2
