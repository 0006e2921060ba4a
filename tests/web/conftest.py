"""Screenshots of the signing page as test artifacts (the browser: tests/conftest.py)."""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Page

ARTIFACTS = Path(os.environ.get("CACHET_TEST_ARTIFACTS", "test-artifacts")) / "signing-page"

Screenshot = Callable[[Page, str], Awaitable[None]]


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Screenshot:
    """Saves a full-page screenshot as a test artifact: test-artifacts/signing-page/ (git
    ignores it; CACHET_TEST_ARTIFACTS moves it)."""
    test_name = re.sub(r"[^\w.-]+", "_", request.node.name)

    async def take(page: Page, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=ARTIFACTS / f"{test_name}-{name}.png", full_page=True)

    return take
