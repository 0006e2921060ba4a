"""The sender's screens as files: served at /app only when enabled, under a strict CSP, with no
inline script and no other origin, calling only operations of the OpenAPI document."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from app.config import Environment, Settings
from app.main import create_app
from app.sender.site import STATIC_DIR
from tests.sender.contract import OPENAPI, documented_operations

# call("METHOD", "/v1/…template…", …): the one way the screens reach the API (js/api.js).
CALL = re.compile(r"""\bcall\(\s*"(GET|POST|PUT|PATCH|DELETE)",\s*"([^"]+)\"""")
SOURCES = sorted(STATIC_DIR.rglob("*.js"))


def test_every_call_in_the_scripts_is_a_documented_operation() -> None:
    calls = {(path.name, call) for path in SOURCES for call in CALL.findall(path.read_text())}
    assert len(calls) > 15  # the pattern still finds them
    undocumented = {(name, call) for name, call in calls if call not in documented_operations()}
    assert not undocumented


def test_every_request_goes_through_the_checked_call() -> None:
    """fetch() appears once, in api.js; every call( names its method and template literally."""
    fetchers = [path.name for path in SOURCES if "fetch(" in path.read_text()]
    assert fetchers == ["api.js"]
    for path in SOURCES:
        text = path.read_text()
        calls = len(re.findall(r"\bcall\(", text)) - (1 if path.name == "api.js" else 0)
        assert calls == len(CALL.findall(text)), f"{path.name}: a call( not written literally"


@pytest.mark.parametrize("path", sorted(STATIC_DIR.rglob("*.*")), ids=lambda p: p.name)
def test_no_inline_script_and_no_other_origin(path: Path) -> None:
    text = path.read_text()
    if path.suffix == ".svg":
        return
    assert not re.search(r"https?://", text), "everything comes from this origin"
    if path.suffix == ".html":
        assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", text))
        assert not re.search(r"\son\w+=", text), "no inline event handler"
        assert "style=" not in text


async def test_the_page_is_served_under_a_strict_csp(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        bare = await client.get("/app")
        page = await client.get("/app/")
        script = await client.get("/app/js/main.js")
    assert bare.status_code in {307, 308} and bare.headers["location"].endswith("/app/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    for answer in (page, script):
        assert answer.headers["content-security-policy"].startswith("default-src 'self';")
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_the_setting_is_on_in_development_and_off_in_production() -> None:
    development, production = Environment.development, Environment.production
    assert Settings(env=development).serves_sender_app
    assert not Settings(env=production).serves_sender_app
    assert not Settings(env=development, sender_app=False).serves_sender_app
    assert Settings(env=production, sender_app=True).serves_sender_app


async def test_off_it_is_not_found(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"sender_app": False}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cachet") as client:
        page = await client.get("/app/")
    assert page.status_code == 404
    assert page.headers["content-type"] == "application/problem+json"


def _catalogue() -> dict[str, set[str]]:
    """The keys of each language of js/i18n.js."""
    text = (STATIC_DIR / "js" / "i18n.js").read_text()
    blocks = re.findall(r"^  (\w+): \{\n(.*?)^  \},", text, flags=re.MULTILINE | re.DOTALL)
    return {name: set(re.findall(r'^\s+"([\w.]+)":', body, re.MULTILINE)) for name, body in blocks}


def test_one_catalogue_in_french_and_english_with_every_key_the_screens_use() -> None:
    catalogue = _catalogue()
    assert set(catalogue) == {"fr", "en"}
    assert catalogue["fr"] == catalogue["en"]
    screens = [path for path in SOURCES if path.name != "i18n.js"]
    used = {key for path in screens for key in re.findall(r'\bt\(\s*"([\w.]+)"', path.read_text())}
    assert used - catalogue["fr"] == set()


@pytest.mark.parametrize(
    ("prefix", "schema", "suffix"),
    [
        ("status", "EnvelopeStatus", ""),
        ("recipientStatus", "RecipientStatus", ""),
        ("blocker", "BlockerCode", ""),
        ("level", "Level", ".title"),
        ("kind", "EnvelopeKind", ".title"),
    ],
)
def test_every_value_of_the_api_has_its_words(prefix: str, schema: str, suffix: str) -> None:
    """A status or blocker the API adds shows in words too, not as a bare code."""
    values = json.loads(OPENAPI.read_text())["components"]["schemas"][schema]["enum"]
    missing = {f"{prefix}.{value}{suffix}" for value in values} - _catalogue()["fr"]
    assert missing == set()
