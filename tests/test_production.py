"""Production refuses development stand-ins: `cachet serve` and `cachet worker` as real
processes, each missing setting named, all of them at once, before anything starts."""

from __future__ import annotations

import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.production import REQUIREMENTS
from app.runtime import Runtime
from tests.signing.testpki import TestPki
from tests.support.cli import cachet_env, free_port, fresh_database, run_cachet, serving
from tests.support.polling import wait_until
from tests.support.sinks import MailSink

ROOT = Path(__file__).resolve().parents[1]
# One name per requirement, as the refusal says it.
REQUIRED = [
    "CACHET_DATABASE_URL",
    "CACHET_SECRET_KEY",
    "CACHET_SMTP_HOST",
    "CACHET_PUBLIC_URL",
    "CACHET_SIGNING_KEY_FILE",
    "CACHET_TSA_URL",
    "CACHET_ISSUING_CA_KEY_FILE",
    "CACHET_SMS_PROVIDER",
    "CACHET_IDV_PROVIDER",
]
SMS = ("sms_provider", "twilio_account_sid", "twilio_auth_token", "sms_sender")
SEAL = ("signing_key_file", "signing_cert_file", "signing_chain_file")
ISSUING_CA = ("issuing_ca_key_file", "issuing_ca_cert_file", "issuing_ca_chain_file")


@pytest.fixture
async def complete(
    postgres_url: str, test_pki: TestPki, smtp: tuple[MailSink, int]
) -> AsyncIterator[dict[str, str]]:
    """Every setting production needs, pointing at a database of its own (a worker started
    here must not run the session's jobs), the SMTP sink and the test PKI."""
    async with fresh_database(postgres_url) as database_url:
        yield {
            "env": "production",
            "database_url": database_url,
            "migrate_on_start": "true",
            "secret_key": "a production secret key for the tests, long enough",
            "smtp_host": "127.0.0.1",
            "smtp_port": str(smtp[1]),
            "signing_url": "https://sign.example.com/s/{token}",
            "signing_key_file": str(test_pki.seal_key_pem),
            "signing_cert_file": str(test_pki.seal_cert_pem),
            "signing_chain_file": str(test_pki.chain_pem),
            "tsa_url": test_pki.tsa_url,
            **{name: str(path) for name, path in test_pki.issuing_ca_settings().items()},
            # Never called here: the service only starts.
            "sms_provider": "twilio",
            "twilio_account_sid": "AC" + "0" * 32,
            "twilio_auth_token": "a token",
            "sms_sender": "Cachet",
            "idv_provider": "veriff",
            "veriff_api_key": "a veriff key",
            "veriff_shared_secret": "a veriff secret",
        }


def named(stderr: str) -> list[str]:
    return [name for name in REQUIRED if re.search(rf"\b{name}\b", stderr)]


def assert_refused(returncode: int, stderr: str, missing: list[str]) -> None:
    assert returncode == 2, stderr
    assert "CACHET_ENV=production refuses to start" in stderr, stderr
    assert named(stderr) == missing, stderr
    assert "Traceback" not in stderr, stderr


@pytest.mark.parametrize("command", ["serve", "worker"])
async def test_nothing_configured_names_every_missing_setting(workdir: Path, command: str) -> None:
    data_dir = workdir / "data"
    env = cachet_env(env="production", data_dir=str(data_dir), port=str(free_port()))

    done = await run_cachet(command, env=env, cwd=workdir, within=30)

    assert_refused(done.returncode, done.stderr, REQUIRED)
    assert "development would use the mailbox on disk" in done.stderr
    assert not data_dir.exists()  # nothing started, nothing written


@pytest.mark.parametrize(
    ("unset", "missing"),
    [
        (("database_url",), "CACHET_DATABASE_URL"),
        (("secret_key",), "CACHET_SECRET_KEY"),
        (("smtp_host", "smtp_port"), "CACHET_SMTP_HOST"),
        (("signing_url",), "CACHET_PUBLIC_URL"),
        (SEAL, "CACHET_SIGNING_KEY_FILE"),
        (("tsa_url",), "CACHET_TSA_URL"),
        (ISSUING_CA, "CACHET_ISSUING_CA_KEY_FILE"),
        (SMS, "CACHET_SMS_PROVIDER"),
        (("twilio_auth_token",), "CACHET_SMS_PROVIDER"),
    ],
)
async def test_each_development_stand_in_alone_stops_serve(
    workdir: Path, complete: dict[str, str], unset: tuple[str, ...], missing: str
) -> None:
    data_dir = workdir / "data"
    settings = {name: value for name, value in complete.items() if name not in unset}
    env = cachet_env(data_dir=str(data_dir), port=str(free_port()), **settings)

    done = await run_cachet("serve", env=env, cwd=workdir, within=30)

    assert_refused(done.returncode, done.stderr, [missing])
    assert not data_dir.exists()


async def test_a_complete_production_configuration_serves(
    workdir: Path, complete: dict[str, str]
) -> None:
    async with serving(workdir / "data", log_name="production", **complete) as server:
        await server.wait_ready()
        returncode = await server.stop(signal.SIGTERM)
    assert returncode in (0, -signal.SIGTERM), server.output()
    assert "refuses" not in server.output()


async def test_a_complete_production_configuration_runs_a_worker(
    workdir: Path, complete: dict[str, str]
) -> None:
    async with serving(workdir / "data", log_name="worker", command="worker", **complete) as worker:
        await wait_until(
            lambda: "cachet worker: running" in worker.output(),
            within=60,
            what=lambda: f"worker not running:\n{worker.output()}",
        )
        assert await worker.stop(signal.SIGTERM) == 0, worker.output()


async def test_other_commands_need_only_the_database(
    workdir: Path, postgres_url: str, runtime: Runtime
) -> None:
    env = cachet_env(env="production", database_url=postgres_url, data_dir=str(workdir / "d"))
    done = await run_cachet("migrate", env=env, cwd=workdir)
    assert (done.returncode, done.stdout) == (0, "database schema at head\n"), done


def test_the_readme_production_section_lists_every_required_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Production", 1)[1].split("\n## ", 1)[0]
    for requirement in REQUIREMENTS:
        for name in re.findall(r"CACHET_[A-Z0-9_]+", requirement.setting):
            assert f"`{name}`" in section, f"{name} is missing from the README's production section"
