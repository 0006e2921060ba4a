"""The interactive API reference at /docs, working offline: Swagger UI's script and style are
served by Cachet from the swagger-ui-py package, not loaded from a CDN."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Final

import anyio
from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from app.errors import NotFound

router = APIRouter(include_in_schema=False)

ASSETS: Final = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
ASSET_PREFIX: Final = "/docs/assets/"


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Cachet API",
        swagger_js_url=ASSET_PREFIX + "swagger-ui-bundle.js",
        swagger_css_url=ASSET_PREFIX + "swagger-ui.css",
        swagger_favicon_url=ASSET_PREFIX + "favicon-32x32.png",
    )


@router.get(ASSET_PREFIX + "{name}")
async def swagger_ui_asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound("asset")
    body = await anyio.to_thread.run_sync(_read, name)  # from memory after the first time
    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    return Response(body, media_type=media_type, headers=headers)


@cache  # three files that never change while the service runs (the bundle is ~1.5 MB)
def _read(name: str) -> bytes:
    return resources.files("swagger_ui").joinpath("static", name).read_bytes()
