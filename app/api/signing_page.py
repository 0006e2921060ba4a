"""The recipient's signing page at /sign/{token} (CACHET_SIGNING_URL's default target), and
its bundled script and style. Kept out of the OpenAPI document: pages, not API.

A GET changes nothing (mail scanners open links): it only reads the recipient's locale to
write the page in it. Opening a session, which sign.js does, is what records "opened".
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from app.api.deps import RuntimeDep, SessionDep
from app.crypto import sha256_hex
from app.envelopes.models import Envelope, EnvelopeKind, Recipient
from app.errors import NotFound
from app.web.catalogue import locale_from_accept_language
from app.web.page import (
    ASSET_PREFIX,
    PAGE_HEADERS,
    content_security_policy,
    read_asset,
    signing_page_html,
)

router = APIRouter(include_in_schema=False)


@router.get("/sign/{token}", response_class=HTMLResponse)
async def signing_page(
    token: str, request: Request, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    """The page; 404 (a page too, in the browser's language) for a link that names nobody."""
    settings = runtime.settings
    named = (
        await session.execute(
            select(Recipient.locale, Envelope.kind)
            .join(Envelope, Envelope.id == Recipient.envelope_id)
            .where(Recipient.token_hash == sha256_hex(token))
        )
    ).one_or_none()
    found = named is not None
    page = signing_page_html(
        locale=named.locale.value if named is not None else _browser_locale(request),
        parent_origins=settings.frame_parent_origins,
        state="open" if found else "unknown",
        approval=named is not None and named.kind is EnvelopeKind.approval,
    )
    headers = {
        **PAGE_HEADERS,
        "Content-Security-Policy": content_security_policy(settings.frame_ancestors),
    }
    return HTMLResponse(page, status_code=200 if found else 404, headers=headers)


def _browser_locale(request: Request) -> str:
    return locale_from_accept_language(request.headers.get("accept-language"))


@router.get(ASSET_PREFIX + "{name}")
async def signing_page_asset(name: str) -> Response:
    asset = read_asset(name)
    if asset is None:
        raise NotFound("asset")
    # Short-lived: a new release's script is taken within minutes, without hashed names.
    headers = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
    return Response(asset.body, media_type=asset.media_type, headers=headers)
