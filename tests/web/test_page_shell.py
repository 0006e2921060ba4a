"""The signing page as served, without a browser: its security headers, no inline script or
style, its bundled assets, and a catalogue that has every word the script asks for."""

from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser
from importlib import resources

import httpx
import pytest

from app.config import Settings
from app.runtime import Runtime
from app.web.catalogue import CATALOGUE, locale_from_accept_language
from app.web.page import content_security_policy
from tests.support import ApiClient
from tests.workflow.support import approval_envelope, send


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


async def test_the_page_has_a_strict_policy_and_no_inline_code(
    api: ApiClient, base_url: str, runtime: Runtime, embedding_origin: str
) -> None:
    envelope, approvers = await approval_envelope(
        api, approvers=1, tag=uuid.uuid4().hex[:8], locale="en"
    )
    await send(api, envelope["id"])
    token = runtime.secrets.link_token(uuid.UUID(approvers[0]["id"]))
    async with httpx.AsyncClient(base_url=base_url) as browser:
        page = await browser.get(f"/sign/{token}")

    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "default-src 'none'" in policy and "unsafe" not in policy
    assert policy.endswith(f"frame-ancestors 'self' {embedding_origin}")
    assert page.headers["referrer-policy"] == "no-referrer"  # the URL holds a credential
    assert page.headers["cache-control"] == "no-store"
    tags = _tags(page.text)
    assert ("html", {"lang": "en"}) in tags
    assert "<title>Approve documents · Cachet</title>" in page.text
    for tag, attributes in tags:
        assert "style" not in attributes and tag != "style", (tag, attributes)
        assert not any(name.startswith("on") for name in attributes), (tag, attributes)
        if tag == "script":  # a file of ours, or data that is never run
            assert attributes.get("src") or attributes.get("type") == "application/json"
    linked = [a.get("src") or a.get("href") for _, a in tags if a.get("src") or a.get("href")]
    # Nothing from elsewhere (no CDN); the icon is an empty data: URL, so no request at all.
    assert linked and all(str(url).startswith(("/assets/sign/", "data:")) for url in linked)


async def test_the_assets_are_served_and_nothing_else(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as browser:
        script = await browser.get("/assets/sign/sign.js")
        style = await browser.get("/assets/sign/sign.css")
        other = await browser.get("/assets/sign/catalogue.py")
        climbing = await browser.get("/assets/sign/..%2F__init__.py")

    assert script.status_code == 200 and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    for refused in (other, climbing):
        assert refused.status_code == 404
        assert refused.headers["content-type"].startswith("application/problem+json")


def test_french_and_english_have_the_same_words() -> None:
    assert CATALOGUE["fr"].keys() == CATALOGUE["en"].keys()
    for locale, strings in CATALOGUE.items():
        assert all(text.strip() for text in strings.values()), locale


def test_every_word_the_script_asks_for_is_in_the_catalogue() -> None:
    script = resources.files("app.web").joinpath("static", "sign.js").read_text()
    asked = set(re.findall(r"\bt\(\"(\w+)\"[,)]", script))
    for pair in re.findall(r"(?:message|showDone)\(\"(\w+)\"(?:, \"(\w+)\")?\)", script):
        asked |= set(pair) - {""}
    assert len(asked) > 50, asked  # the patterns still find the script's words
    assert asked <= CATALOGUE["en"].keys(), asked - CATALOGUE["en"].keys()
    # Steps and statuses are looked up by the names the API gives them.
    for step in ("email", "sms", "identity", "sign", "approve"):
        assert f"step_{step}" in CATALOGUE["en"]
    for status in ("done", "pending", "blocked"):
        assert f"status_{status}" in CATALOGUE["en"]


@pytest.mark.parametrize(
    ("header", "locale"),
    [("en-GB,en;q=0.9", "en"), ("de-DE, fr;q=0.5", "fr"), ("de", "fr"), (None, "fr")],
)
def test_a_link_that_names_nobody_is_answered_in_the_browsers_language(
    header: str | None, locale: str
) -> None:
    assert locale_from_accept_language(header) == locale


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("'self'", True),
        ("'none'", True),
        ("'self' https://app.example.com http://127.0.0.1:8080", True),
        ("'none' 'self'", False),
        ("*", False),
        ("https://app.example.com/path", False),
        ("", False),
    ],
)
def test_frame_ancestors_takes_origins_only(value: str, accepted: bool) -> None:
    if accepted:
        settings = Settings(frame_ancestors=value)
        assert content_security_policy(settings.frame_ancestors).endswith(value)
    else:
        with pytest.raises(ValueError, match="frame_ancestors"):
            Settings(frame_ancestors=value)
