"""Driving the signing page as a person would: open the emailed link, draw, tick, press."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    FrameLocator,
    Page,
    expect,
)

from tests.support import ApiClient
from tests.support.polling import eventually
from tests.support.sinks import MailSink, link_token

# Pages poll the signing job; a signature with its timestamp takes a few seconds here.
SIGNING_TIMEOUT_MS = 60_000


async def open_emailed_link(
    browser: Browser,
    base_url: str,
    mail: MailSink,
    address: str,
    *,
    complaints: list[str] | None = None,
    **context_options: object,
) -> tuple[BrowserContext, Page]:
    """A fresh browser (no shared storage) on the link of the newest invitation to address.
    The link names the default public URL; the test server listens elsewhere on loopback.
    complaints, if given, collects the console's errors and warnings (CSP violations among
    them) and the script's uncaught exceptions, from the first request on."""
    invitation = (await mail.wait_for(address))[-1]
    context = await browser.new_context(**context_options)  # type: ignore[arg-type]
    page = await context.new_page()
    if complaints is not None:
        page.on("console", lambda m: _note(complaints, m))
        page.on("pageerror", lambda error: complaints.append(f"uncaught: {error}"))
    await page.goto(f"{base_url}/sign/{link_token(invitation)}")
    return context, page


def _note(complaints: list[str], message: ConsoleMessage) -> None:
    if message.type in ("error", "warning"):
        complaints.append(f"{message.type}: {message.text}")


async def draw_signature(
    page: Page, pad_name: str = "Signature pad", *, within: FrameLocator | None = None
) -> None:
    """A zigzag stroke across the pad, with the mouse (pointer events, like a pen or finger);
    within: the iframe that shows the signing page, if it is framed."""
    pad = (within or page).get_by_label(pad_name)
    await expect(pad).to_be_visible()
    await pad.scroll_into_view_if_needed()  # the mouse draws where the viewport shows the pad
    box = await pad.bounding_box()
    assert box is not None
    left, middle, width = box["x"] + 15, box["y"] + box["height"] / 2, box["width"] - 30
    await page.mouse.move(left, middle)
    await page.mouse.down()
    for step in range(1, 16):
        await page.mouse.move(left + step * width / 15, middle + (-12 if step % 2 else 12), steps=3)
    await page.mouse.up()


async def sign_on_page(
    page: Page, *, agree: str = "I agree", sign: str = "Sign", within: FrameLocator | None = None
) -> None:
    await draw_signature(page, within=within)
    scope = within or page
    await scope.get_by_label(agree).check()
    await scope.get_by_role("button", name=sign, exact=True).click()


async def page_image_shown(page: Page) -> None:
    """The current page's image has arrived (the page fetches it after drawing its frame)."""
    await expect(page.locator(".sheet img[src]")).to_have_count(1)
    await expect(page.locator(".sheet[aria-busy]")).to_have_count(0)


# The platform's page: the signing page in an iframe, and every message it posts kept in
# window.received. Served from another origin, as a platform's own UI would be.
PARENT_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Platform</title></head>
<body><h1>Platform</h1>
<iframe src="{src}" title="Signing" width="820" height="900"></iframe>
<script>
window.received = [];
window.addEventListener("message", function (event) {{
  window.received.push({{origin: event.origin, data: event.data}});
}});
</script></body></html>"""


@asynccontextmanager
async def platform_page(origin: str, iframe_src: str) -> AsyncIterator[str]:
    """Serves PARENT_PAGE at origin (http://127.0.0.1:PORT) with uvicorn; yields its URL."""
    body = PARENT_PAGE.format(src=html.escape(iframe_src)).encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    port = urlsplit(origin).port
    assert urlsplit(origin).hostname == "127.0.0.1" and port is not None
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no start event)
        await asyncio.sleep(0.02)
    try:
        yield origin + "/"
    finally:
        server.should_exit = True
        await task


async def expect_signed(
    page: Page, api: ApiClient, envelope_id: str, heading: str = "You have signed. Thank you."
) -> None:
    """The page says the signature is applied; if it does not in time, the failure tells
    what the service recorded meanwhile (statuses and the last events)."""
    try:
        await expect(page.get_by_role("heading", name=heading)).to_be_visible(
            timeout=SIGNING_TIMEOUT_MS
        )
    except AssertionError as failure:
        envelope = await api.get_envelope(envelope_id)
        events = (await api.get(f"/v1/envelopes/{envelope_id}/events")).json()["data"]
        recorded = [(e["type"], e["data"]) for e in events[-6:]]
        statuses = [(r["email"], r["status"]) for r in envelope["recipients"]]
        raise AssertionError(
            f"{failure}\nenvelope {envelope['status']} {statuses} problem={envelope['problem']}"
            f"\nlast events: {recorded}"
        ) from None


async def completed_with_signed_files(api: ApiClient, envelope_id: str, *, within: float) -> None:
    """Waits until the envelope is completed and every document has its signed version."""
    await eventually(
        lambda: api.get_envelope(envelope_id),
        lambda envelope: (
            envelope["status"] == "completed"
            and all(d["signed_sha256"] for d in envelope["documents"])
        ),
        within=within,
        what="the envelope did not complete",
    )
