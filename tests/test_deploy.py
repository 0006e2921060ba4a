"""deploy/compose.yaml cannot be run here (no Docker): it is read as YAML and held to what Cachet
actually offers, so that it does not drift from the settings and commands it names."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.cli import parser
from app.config import Settings
from app.production import REQUIREMENTS, production_problems

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
# The S3 blob store's settings: they come with that work, and are ignored until then.
S3_SETTINGS = {
    "CACHET_BLOB_URL",
    "CACHET_S3_ENDPOINT",
    "CACHET_S3_REGION",
    "CACHET_S3_ACCESS_KEY_ID",
    "CACHET_S3_SECRET_ACCESS_KEY",
}
CACHET_SERVICES = ("migrate", "api", "worker")
OPTIONAL = {"CACHET_TRUSTED_PROXIES"}  # blank in the example: its default


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def example_env() -> dict[str, str]:
    lines = (DEPLOY / "cachet.env.example").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))
    return {name: value for name, value in pairs}  # noqa: C416  (mypy: split gives a list)


def interpolated(value: object) -> str:
    """`${NAME:?message}` as compose would expand it, with a made-up value."""
    return re.sub(r"\$\{([A-Z_]+)[^}]*\}", lambda m: f"made-up-{m.group(1).lower()}", str(value))


def test_the_services_are_there_and_depend_on_services_that_exist(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert {"postgres", "s3", "api", "worker"} <= set(services)
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on {needed}, which is not a service"
        for config in service.get("configs", []):
            assert config["source"] in compose["configs"]
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert source.startswith(".") or source in compose["volumes"], volume
    for name in CACHET_SERVICES:
        build = services[name]["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve().is_file()
        assert services[name]["env_file"] == ["cachet.env"]


def test_the_api_runs_no_jobs_and_the_workers_run_them(compose: dict[str, Any]) -> None:
    api, worker = compose["services"]["api"], compose["services"]["worker"]
    assert api["command"] == ["cachet", "serve"]
    assert api["environment"]["CACHET_RUN_JOBS"] == "false"
    assert int(api["environment"]["CACHET_WEB_WORKERS"]) >= 2
    assert worker["command"][:2] == ["cachet", "worker"]
    assert worker["deploy"]["replicas"] >= 2
    assert worker["healthcheck"] == {"disable": True}  # the image's check asks for HTTP
    # Migrations once, before either starts.
    assert compose["services"]["migrate"]["command"] == ["cachet", "migrate"]
    for service in (api, worker):
        assert service["environment"]["CACHET_MIGRATE_ON_START"] == "false"
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_every_command_parses(compose: dict[str, Any]) -> None:
    for name in CACHET_SERVICES:
        command = compose["services"][name]["command"]
        assert command[0] == "cachet"
        parser().parse_args(command[1:])


def test_every_setting_named_is_one_cachet_reads(compose: dict[str, Any]) -> None:
    fields = {f"CACHET_{name.upper()}" for name in Settings.model_fields}
    named = set(example_env())
    for name in CACHET_SERVICES:
        named |= {key for key in compose["services"][name]["environment"] if "CACHET_" in key}
    assert named - fields - S3_SETTINGS == set()


def test_the_settings_given_satisfy_production(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the example leaves blank (credentials) is filled in; then nothing is missing."""
    for name in [n for n in os.environ if n.startswith("CACHET_")]:
        monkeypatch.delenv(name)
    environment = {
        **{
            name: value or ("" if name in OPTIONAL else "filled-in")
            for name, value in example_env().items()
        },
        **compose["services"]["api"]["environment"],
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, interpolated(value))
    settings = Settings()
    assert settings.env.value == "production"
    assert production_problems(settings, REQUIREMENTS) == []
