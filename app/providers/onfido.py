"""Onfido (Entrust) Studio workflow runs, API v3.6, with `Authorization: Token token=…`.
A session is an applicant (the declared names) plus a workflow run on it, whose hosted link
the person follows. Webhooks carry `X-SHA2-Signature`, the hex HMAC-SHA256 of the raw body
keyed with the webhook's token; GET /v3.6/workflow_runs/{id} is the source of truth.

What a run says is configured in Onfido Studio, so this adapter documents what it reads:

    output.first_name, output.last_name   the names read from the document (the workflow's
                                          output mapped from the document report); both
                                          absent: no identity is returned
    output.document_type                  e.g. passport, national_identity_card
    output.issuing_country                ISO 3166-1 alpha-3, as Onfido gives it
    reasons                               the run's outcome reasons (strings set in Studio)

A declined run is a name mismatch when one of its reasons, lower-cased with spaces and hyphens
as underscores, contains `name_mismatch` (a reason the Studio workflow should emit for it) or
`data_comparison` (the document report's comparison of the applicant's data with the
document; only the names are given to the applicant here, so only they can differ).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from urllib.parse import quote

import httpx

from app.providers.http import json_or_empty, provider_client
from app.providers.identity import (
    BadCallback,
    CallbackRequest,
    IdentityRequest,
    IdentityStatus,
    IdentityUnavailable,
    StartedVerification,
    VerificationResult,
    VerifiedIdentity,
    vendor_failure,
)

DEFAULT_BASE_URL = "https://api.eu.onfido.com"
API = "/v3.6"
LANGUAGES = {"fr": "fr_FR", "en": "en_US"}
NAME_MISMATCH_HINTS = ("name_mismatch", "data_comparison")
STATUSES = {
    "processing": IdentityStatus.pending,
    "awaiting_input": IdentityStatus.pending,
    "awaiting_client_input": IdentityStatus.pending,
    "approved": IdentityStatus.approved,
    "declined": IdentityStatus.declined,
    "review": IdentityStatus.review,
    "abandoned": IdentityStatus.expired,
    # The workflow itself failed: not the person's doing, and nothing more will come of this
    # run; as for an expired one, a new session may be started.
    "error": IdentityStatus.expired,
}


def onfido_signature(webhook_token: str, body: bytes) -> str:
    return hmac.new(webhook_token.encode(), body, hashlib.sha256).hexdigest()


class OnfidoIdentity:
    name = "onfido"

    def __init__(
        self,
        *,
        api_token: str,
        webhook_token: str,
        workflow_id: str,
        base_url: str | None = None,
        timeout: float,
    ) -> None:
        self._webhook_token = webhook_token
        self._workflow_id = workflow_id
        self._base = (base_url or DEFAULT_BASE_URL).rstrip("/") + API
        self._client = provider_client(timeout=timeout)
        self._client.headers["Authorization"] = f"Token token={api_token}"

    async def start(self, request: IdentityRequest) -> StartedVerification:
        applicant_id = await self._create_applicant(request)
        link: dict[str, object] = {"language": LANGUAGES.get(request.locale, "en_US")}
        if request.return_url:
            link["completed_redirect_url"] = request.return_url
        run = {
            "workflow_id": self._workflow_id,
            "applicant_id": applicant_id,
            "link": link,
            # Free text kept with the run; custom_data would need a matching custom input
            # declared in the Studio workflow, or Onfido refuses the run.
            "customer_user_id": request.reference,
        }
        answer = await self._call("POST", "/workflow_runs", run)
        run_id, url = answer.get("id"), _object(answer.get("link")).get("url")
        if not (isinstance(run_id, str) and isinstance(url, str)):
            raise IdentityUnavailable("Onfido created the workflow run but returned no id or link")
        return StartedVerification(self.name, run_id, url)

    async def _create_applicant(self, request: IdentityRequest) -> str:
        applicant = {"first_name": request.first_name, "last_name": request.last_name}
        if request.email:
            applicant["email"] = request.email
        answer = await self._call("POST", "/applicants", applicant)
        applicant_id = answer.get("id")
        if not isinstance(applicant_id, str):
            raise IdentityUnavailable("Onfido created the applicant but returned no id")
        return applicant_id

    async def result(self, session_id: str) -> VerificationResult:
        run = await self._call("GET", f"/workflow_runs/{quote(session_id, safe='')}", None)
        vendor_status = str(run.get("status") or "")
        status = STATUSES.get(vendor_status, IdentityStatus.pending)  # unknown: look again
        return VerificationResult(
            status=status,
            vendor_status=vendor_status,
            reason=_reason(vendor_status, run),
            identity=_identity(_object(run.get("output"))),
        )

    def callback_sessions(self, request: CallbackRequest) -> list[str]:
        expected = onfido_signature(self._webhook_token, request.body)
        given = request.headers.get("x-sha2-signature", "").lower()
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise BadCallback("X-SHA2-Signature does not match")
        return _runs_of(request.body)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(
        self, method: str, path: str, body: Mapping[str, object] | None
    ) -> dict[str, object]:
        try:
            response = await self._client.request(method, self._base + path, json=body)
        except httpx.HTTPError as error:
            raise IdentityUnavailable(f"Onfido did not answer: {type(error).__name__}") from error
        answer = json_or_empty(response)
        if not response.is_success:
            raise vendor_failure(
                "Onfido",
                response.status_code,
                _error_message(answer) or response.reason_phrase,
                retry_after=response.headers.get("retry-after"),
            )
        return answer


def _reason(vendor_status: str, run: dict[str, object]) -> str | None:
    if vendor_status == "error":
        return "provider_error"
    if vendor_status != "declined":
        return None
    reasons = run.get("reasons")
    words = [str(r) for r in reasons if r] if isinstance(reasons, list) else []
    normalised = [w.lower().replace(" ", "_").replace("-", "_") for w in words]
    if any(hint in word for word in normalised for hint in NAME_MISMATCH_HINTS):
        return "name_mismatch"
    return "; ".join(words) or None


def _identity(output: dict[str, object]) -> VerifiedIdentity | None:
    first_name, last_name = output.get("first_name"), output.get("last_name")
    if not (isinstance(first_name, str) or isinstance(last_name, str)):
        return None  # the workflow outputs no names (yet)
    return VerifiedIdentity(
        first_name=first_name if isinstance(first_name, str) else "",
        last_name=last_name if isinstance(last_name, str) else "",
        document_type=_text(output.get("document_type")),
        issuing_country=_text(output.get("issuing_country")),
    )


def _runs_of(body: bytes) -> list[str]:
    """The workflow run a webhook is about; other resources (checks, reports, evidence
    files) name none, harmlessly."""
    try:
        payload = _object(json.loads(body)).get("payload")
    except ValueError:
        raise BadCallback("not JSON") from None
    if not isinstance(payload, dict):
        raise BadCallback("not an Onfido webhook")
    if payload.get("resource_type") != "workflow_run":
        return []
    run_id = _object(payload.get("object")).get("id")
    if not isinstance(run_id, str) or not run_id:
        raise BadCallback("an Onfido workflow_run webhook without the run's id")
    return [run_id]


def _error_message(answer: dict[str, object]) -> str:
    error = _object(answer.get("error"))
    message = str(error.get("message") or "")
    fields = error.get("fields")
    return f"{message} {json.dumps(fields)}" if fields else message


def _object(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
