"""/docs works offline: Swagger UI's files come from Cachet, and a browser renders the API
reference without asking any other host for anything."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Browser, Request, expect

from tests.web.conftest import Screenshot


async def test_the_reference_page_names_only_local_files(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        page = await client.get("/docs")
        script = await client.get("/docs/assets/swagger-ui-bundle.js")
        other = await client.get("/docs/assets/swagger-editor.js")

    assert page.status_code == 200
    assert "cdn." not in page.text and "https://" not in page.text
    assert script.status_code == 200 and len(script.content) > 100_000
    assert other.status_code == 404  # only the files /docs uses
    assert (await _redoc(base_url)).status_code == 404  # ReDoc would load from a CDN


async def _redoc(base_url: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url) as client:
        return await client.get("/redoc")


async def test_a_browser_renders_the_reference_from_this_service_alone(
    browser: Browser, base_url: str, screenshot: Screenshot
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    requested: list[str] = []

    def note(request: Request) -> None:
        requested.append(request.url)

    page.on("request", note)
    await page.goto(f"{base_url}/docs")
    await expect(page.get_by_role("heading", name="Cachet")).to_be_visible()
    signing_link = page.get_by_role("button", name=re.compile(r"^POST .*signing-link"))
    await expect(signing_link).to_be_visible()
    await screenshot(page, "docs")
    await context.close()

    assert requested and all(url.startswith(base_url) for url in requested), requested
