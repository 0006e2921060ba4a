"""A real browser for the sender's screens: Debian's chromium driven by Playwright (no browser
is ever downloaded), one context per test, every request it makes recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Page,
    ViewportSize,
    expect,
)

DESKTOP = ViewportSize(width=1280, height=900)

# A send signs each document's fields and a job sends the invitation: on a machine busy with the
# rest of the suite that takes longer than Playwright's 5 s default wait.
expect.set_options(timeout=20_000)


@dataclass
class BrowserTab:
    """A page, the requests it made (method, URL) and what went wrong inside it."""

    page: Page
    artifacts: Path
    requests: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def screenshot(self, name: str) -> Path:
        """Kept as a test artifact under the test's tmp directory."""
        path = self.artifacts / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


async def open_tab(browser: Browser, artifacts: Path, viewport: ViewportSize) -> BrowserTab:
    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    tab = BrowserTab(page, artifacts)
    page.on("request", lambda request: tab.requests.append((request.method, request.url)))
    page.on("console", lambda message: _note_console_error(tab, message))
    page.on("pageerror", lambda error: tab.errors.append(str(error)))
    return tab


def _note_console_error(tab: BrowserTab, message: ConsoleMessage) -> None:
    """A CSP refusal (an inline script or style, a foreign origin), a script error or a missing
    file is an error on the console. So is each API refusal, which the tests cause on purpose:
    those are the screens' to say in words, not errors of the page."""
    if message.type != "error":
        return
    if urlsplit(message.location.get("url", "")).path.startswith("/v1/"):
        return
    tab.errors.append(message.text)


@pytest.fixture
async def tab(browser: Browser, tmp_path: Path) -> AsyncIterator[BrowserTab]:
    """A desktop-sized tab; its screenshots go to tmp_path/screenshots."""
    artifacts = tmp_path / "screenshots"
    artifacts.mkdir()
    tab = await open_tab(browser, artifacts, DESKTOP)
    try:
        yield tab
    finally:
        await tab.page.context.close()
