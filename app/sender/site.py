"""sender_site(): the ASGI app that serves the sender's screens, mounted at /app by app.main.

Plain Starlette, no FastAPI: it serves files and calls nothing of the service. Every answer
carries a strict Content-Security-Policy: the pages load only their own scripts and styles
(no inline script, no CDN) and talk only to this origin, where the API is.
"""

from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).parent / "static"

# default-src 'self' covers scripts, styles, fetch and images; img-src adds blob: for the page
# images (fetched with the API key, then shown from memory); the rest closes what it leaves
# open: being framed (clickjacking of the Send button), <base> rewriting, form posts elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'; object-src 'none'"
)

SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    # The API key lives in sessionStorage; no URL of this page needs to travel elsewhere.
    (b"referrer-policy", b"no-referrer"),
    # Small files that change with each release: always revalidated, never stale after one.
    (b"cache-control", b"no-cache"),
]


class _SecurityHeaders:
    """Adds SECURITY_HEADERS to every response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def sender_site() -> ASGIApp:
    """index.html at /app/, every other file of static/ under its own name."""
    return _SecurityHeaders(StaticFiles(directory=STATIC_DIR, html=True))
