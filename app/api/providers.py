"""What providers post back: SMS delivery reports and identity-check callbacks. Each is believed
only when it carries the provider's own proof (Twilio's X-Twilio-Signature, Brevo's token,
Veriff's and Onfido's HMAC of the body); anything else is 401."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response

from app.api.deps import RuntimeDep
from app.api.problems import problems
from app.errors import NotFound, Unauthenticated
from app.providers.sms import BadCallback, CallbackRequest
from app.workflow.identity_flow import queue_refresh
from app.workflow.sms import record_deliveries

router = APIRouter(prefix="/v1/providers", tags=["providers"])


@router.post(
    "/{provider}/sms-status",
    status_code=204,
    operation_id="receiveSmsStatus",
    responses=problems(401, 404),
)
async def receive_sms_status(
    provider: Literal["brevo", "twilio", "ovh", "dev"], request: Request, runtime: RuntimeDep
) -> Response:
    """A delivery report for a one-time code, from the configured SMS provider. Duplicates and
    reports out of order are harmless: the first final word (delivered, undelivered) is kept
    and recorded as `otp.delivered` / `otp.undelivered`."""
    if provider != runtime.sms.name:
        raise NotFound("provider")
    callback = CallbackRequest(
        url=_as_configured(runtime.settings.base_url, request),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=await request.body(),
    )
    try:
        reports = runtime.sms.delivery_reports(callback)
    except BadCallback as bad:
        raise Unauthenticated("bad_callback", f"Not a verified {provider} report: {bad}") from None
    await record_deliveries(runtime, provider, reports)
    return Response(status_code=204)


def _as_configured(base_url: str, request: Request) -> str:
    """The URL the provider was given (and signed): the public base URL, not the address this
    request reached through a proxy."""
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{base_url}{request.url.path}{query}"


@router.post(
    "/{provider}/identity",
    status_code=204,
    operation_id="receiveIdentityCallback",
    responses=problems(401, 404),
)
async def receive_identity_callback(
    provider: Literal["veriff", "onfido"], request: Request, runtime: RuntimeDep
) -> Response:
    """A callback from the configured identity provider (Veriff's X-HMAC-SIGNATURE, Onfido's
    X-SHA2-Signature, over the raw body). It is only a trigger: each session it names is read
    back from the provider by a job, so duplicate, late and out-of-order callbacks are harmless
    (a final result is kept)."""
    if provider != runtime.identity.name:
        raise NotFound("provider")
    callback = CallbackRequest(
        url=_as_configured(runtime.settings.base_url, request),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=await request.body(),
    )
    try:
        session_ids = runtime.identity.callback_sessions(callback)
    except BadCallback as bad:
        raise Unauthenticated(
            "bad_callback", f"Not a verified {provider} callback: {bad}"
        ) from None
    await queue_refresh(runtime, provider, session_ids)
    return Response(status_code=204)
