"""The signing page's HTML shell, its Content-Security-Policy and its bundled assets.

The shell holds no inline script or style: sign.js and sign.css come from this service
(`script-src 'self'`), and the page's configuration (its words, the origins it may tell) is a
JSON data block, which browsers never run. sign.js does the rest through the recipient API.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final, Literal

from app.web.catalogue import strings_for

ASSET_PREFIX: Final = "/assets/sign/"
ASSET_TYPES: Final = {
    "sign.js": "text/javascript; charset=utf-8",
    "sign.css": "text/css; charset=utf-8",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str


@cache  # a handful of small files that never change while the service runs
def read_asset(name: str) -> Asset | None:
    """One of the page's own files, by name; None for anything else (no path is followed)."""
    media_type = ASSET_TYPES.get(name)
    if media_type is None:
        return None
    body = resources.files("app.web").joinpath("static", name).read_bytes()
    return Asset(body, media_type)


def content_security_policy(frame_ancestors: str) -> str:
    """Nothing but this service's own script, style, images (and the blobs sign.js makes of
    the page images it fetches), and API calls; framed only where the operator allows."""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' blob: data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {frame_ancestors}",
        )
    )


# The link's token is a credential: never sent onward as a Referer, never kept by a cache.
PAGE_HEADERS: Final = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def signing_page_html(
    *,
    locale: str,
    parent_origins: list[str],
    state: Literal["open", "unknown"] = "open",
    approval: bool = False,
) -> str:
    """The shell sign.js fills in. state "unknown" is a link that names nobody: the page says
    so without any script (nothing to ask the API)."""
    strings = strings_for(locale)
    title = strings["title_approval" if approval else "title"]
    config = {"locale": locale, "strings": strings, "parentOrigins": parent_origins}
    if state == "unknown":
        body = (
            f"<h1>{html.escape(strings['unknown_heading'])}</h1>"
            f"<p>{html.escape(strings['unknown'])}</p>"
        )
        script = ""
    else:
        body = (
            f'<p class="status" role="status">{html.escape(strings["loading"])}</p>'
            f"<noscript><p>{html.escape(strings['noscript'])}</p></noscript>"
        )
        script = (
            '<script type="application/json" id="cachet-config">'
            f"{_json_for_html(config)}</script>"
            f'<script src="{ASSET_PREFIX}sign.js" defer></script>'
        )
    return (
        f'<!doctype html><html lang="{html.escape(locale)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        '<link rel="icon" href="data:,">'
        f"<title>{html.escape(title)} · Cachet</title>"
        f'<link rel="stylesheet" href="{ASSET_PREFIX}sign.css">{script}</head>'
        f'<body><main id="main" tabindex="-1">{body}</main></body></html>'
    )


def _json_for_html(value: object) -> str:
    """JSON that cannot close its <script> element early."""
    return (
        json.dumps(value, ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )
