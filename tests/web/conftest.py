"""A real browser for the signing page: Debian's chromium driven by Playwright (the browser
is never downloaded: `playwright install` is not needed, and not possible offline)."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
# Headless, offline, nothing phoning home: the browser talks to 127.0.0.1 only.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("CACHET_TEST_ARTIFACTS", "test-artifacts")) / "signing-page"

Screenshot = Callable[[Page, str], Awaitable[None]]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Screenshot:
    """Saves a full-page screenshot as a test artifact: test-artifacts/signing-page/ (git
    ignores it; CACHET_TEST_ARTIFACTS moves it)."""
    test_name = re.sub(r"[^\w.-]+", "_", request.node.name)

    async def take(page: Page, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=ARTIFACTS / f"{test_name}-{name}.png", full_page=True)

    return take
