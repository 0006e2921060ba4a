"""Veriff sessions: JSON with the `X-AUTH-CLIENT` header (the API key) and `X-HMAC-SIGNATURE`,
the hex HMAC-SHA256 with the shared secret of the raw body (POST) or of the session id (GET).
Veriff signs its webhooks the same way over their raw body. The decision
(GET /v1/sessions/{id}/decision) is the source of truth; `verification` is null until there
is one. Decline reason code 104 is Veriff's "name entered does not match name on document".

Only names, the document's type and its country are read: never its number, the person's
birth date or any image URL."""

from __future__ import annotations

import hashlib
import hmac
import json
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

DEFAULT_BASE_URL = "https://stationapi.veriff.com"
NAME_MISMATCH_CODE = 104
STATUSES = {
    "approved": IdentityStatus.approved,
    "declined": IdentityStatus.declined,
    "review": IdentityStatus.review,
    "expired": IdentityStatus.expired,
    "abandoned": IdentityStatus.expired,
    # The person may try again within the same session: still waiting for them.
    "resubmission_requested": IdentityStatus.pending,
    "created": IdentityStatus.pending,
    "started": IdentityStatus.pending,
    "submitted": IdentityStatus.pending,
}


def veriff_signature(shared_secret: str, payload: bytes) -> str:
    return hmac.new(shared_secret.encode(), payload, hashlib.sha256).hexdigest()


class VeriffIdentity:
    name = "veriff"

    def __init__(
        self,
        *,
        api_key: str,
        shared_secret: str,
        base_url: str | None = None,
        timeout: float,
    ) -> None:
        self._api_key = api_key
        self._secret = shared_secret
        self._base = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._client = provider_client(timeout=timeout)

    async def start(self, request: IdentityRequest) -> StartedVerification:
        verification: dict[str, object] = {
            "person": {"firstName": request.first_name, "lastName": request.last_name},
            "vendorData": request.reference,
        }
        if request.return_url:
            verification["callback"] = request.return_url  # Veriff's word for the redirect
        body = json.dumps({"verification": verification}, separators=(",", ":")).encode()
        response = await self._call("POST", "/v1/sessions", body, signed=body)
        session = _object(json_or_empty(response).get("verification"))
        session_id, url = session.get("id"), session.get("url")
        if not (isinstance(session_id, str) and isinstance(url, str)):
            raise IdentityUnavailable("Veriff accepted the session but returned no id or URL")
        return StartedVerification(self.name, session_id, url)

    async def result(self, session_id: str) -> VerificationResult:
        path = f"/v1/sessions/{quote(session_id, safe='')}/decision"
        response = await self._call("GET", path, None, signed=session_id.encode())
        decision = json_or_empty(response).get("verification")
        if not isinstance(decision, dict):
            return VerificationResult(IdentityStatus.pending, vendor_status="no decision yet")
        return _decision(decision)

    def callback_sessions(self, request: CallbackRequest) -> list[str]:
        client = request.headers.get("x-auth-client", "")
        if not hmac.compare_digest(client.encode(), self._api_key.encode()):
            raise BadCallback("X-AUTH-CLIENT is not this integration's API key")
        expected = veriff_signature(self._secret, request.body)
        given = request.headers.get("x-hmac-signature", "").lower()
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise BadCallback("X-HMAC-SIGNATURE does not match")
        return [_session_of(request.body)]

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(
        self, method: str, path: str, body: bytes | None, *, signed: bytes
    ) -> httpx.Response:
        headers = {
            "X-AUTH-CLIENT": self._api_key,
            "X-HMAC-SIGNATURE": veriff_signature(self._secret, signed),
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await self._client.request(
                method, self._base + path, content=body, headers=headers
            )
        except httpx.HTTPError as error:
            raise IdentityUnavailable(f"Veriff did not answer: {type(error).__name__}") from error
        if not response.is_success:
            message = str(json_or_empty(response).get("message") or response.reason_phrase)
            raise vendor_failure(
                "Veriff",
                response.status_code,
                message,
                retry_after=response.headers.get("retry-after"),
            )
        return response


def _decision(decision: dict[str, object]) -> VerificationResult:
    vendor_status = str(decision.get("status") or "")
    status = STATUSES.get(vendor_status, IdentityStatus.pending)  # an unknown word: look again
    return VerificationResult(
        status=status,
        vendor_status=vendor_status,
        reason=_reason(decision) if status is IdentityStatus.declined else None,
        identity=_identity(decision),
    )


def _reason(decision: dict[str, object]) -> str | None:
    code, text = decision.get("reasonCode"), decision.get("reason")
    if str(code) == str(NAME_MISMATCH_CODE):
        return "name_mismatch"
    words = [str(part) for part in (code, text) if part not in (None, "")]
    return ": ".join(words) or None


def _identity(decision: dict[str, object]) -> VerifiedIdentity | None:
    person, document = _object(decision.get("person")), _object(decision.get("document"))
    first_name, last_name = person.get("firstName"), person.get("lastName")
    if not (isinstance(first_name, str) and isinstance(last_name, str)) or not (
        first_name or last_name
    ):
        return None  # no names read (yet): nothing to compare
    return VerifiedIdentity(
        first_name=first_name,
        last_name=last_name,
        document_type=_text(document.get("type")),
        issuing_country=_text(document.get("country")),
    )


def _session_of(body: bytes) -> str:
    """The session a webhook is about: `verification.id` in a decision webhook, `id` in an
    event webhook (started, submitted)."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise BadCallback("not JSON") from None
    if not isinstance(payload, dict):
        raise BadCallback("not a Veriff webhook")
    decision = _object(payload.get("verification"))
    session_id = decision.get("id") if decision else payload.get("id")
    if not isinstance(session_id, str) or not session_id:
        raise BadCallback("not a Veriff decision or event webhook")
    return session_id


def _object(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
