"""Identity-verification vendors' APIs, spoken on 127.0.0.1 by one small server, as their
documentation describes them (see ../shared/research/providers.md, section 2), with their
auth checks: a wrong key, token or signature is answered 401 as the vendor would.

    Veriff   POST /v1/sessions                  X-AUTH-CLIENT + X-HMAC-SIGNATURE over the body
             GET  /v1/sessions/{id}/decision    X-AUTH-CLIENT + X-HMAC-SIGNATURE over the id
    Onfido   POST /v3.6/applicants              Authorization: Token token=…
             POST /v3.6/workflow_runs
             GET  /v3.6/workflow_runs/{id}
    Both     GET  /hosted/{id}                  the page the person is sent to (verification_url)
             POST /hosted/{id}                  form `outcome=…`: the person finishes there; the
                                                outcome is stored, the callback sent, and the
                                                answer is a 303 to the session's return URL

Use:

    async with fake_idv_vendors() as fake:
        provider = adapter("veriff", fake)             # the real adapter, pointed at the fake
        fake.callback_url = "http://127.0.0.1:…/…"     # where signed callbacks go (optional)
        started = await provider.start(request)
        fake.created[-1].first_name                    # what the vendor received
        await fake.complete(started.session_id, "approved")            # + signed callback
        await fake.complete(sid, "name_mismatch")      # Veriff 104 / Onfido reason
        await fake.complete(sid, "approved", first_name="Other")       # a different name
        await fake.send_callback(sid, "started")       # replayed, duplicate or out of order
        fake.script.append(("status", 429))            # the next API call fails (or "slow")

Outcomes for complete() and send_callback(), in either vendor's terms: approved, declined
(Veriff reason code 102 unless given; Onfido reason "document_tampering"), name_mismatch
(Veriff declined 104; Onfido declined with reason "name_mismatch"), review, expired, abandoned,
resubmission_requested (Veriff), error (Onfido); any other word is passed on as the vendor's
own status (Veriff "started", "submitted"; Onfido "processing", "awaiting_input"). Names
default to the declared ones. `idv_settings(name, fake)` gives the Settings fields that point
the service at the fake.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from app.providers.identity import CallbackRequest, IdentityProvider
from app.providers.onfido import OnfidoIdentity
from app.providers.veriff import VeriffIdentity
from tests.support.cli import free_port

VERIFF_KEY, VERIFF_SECRET = "veriff-test-api-key", "veriff-test-shared-secret"
ONFIDO_TOKEN, ONFIDO_WEBHOOK_TOKEN = "api_sandbox.onfido-test-token", "onfido-webhook-token"
ONFIDO_WORKFLOW = "0f6c6d4a-6b5e-4d3c-9a1b-2c3d4e5f6a7b"

# Each vendor's words for the fake's outcomes, and what else goes with them.
VERIFF_OUTCOMES: dict[str, tuple[str, int | None]] = {
    "approved": ("approved", None),
    "declined": ("declined", 102),  # suspected document tampering
    "name_mismatch": ("declined", 104),
    "review": ("review", None),
    "expired": ("expired", None),
    "abandoned": ("abandoned", None),
    "resubmission_requested": ("resubmission_requested", 201),
}
VERIFF_CODES = {
    "started": 7001,
    "submitted": 7002,
    "approved": 9001,
    "declined": 9102,
    "resubmission_requested": 9103,
    "expired": 9104,
    "abandoned": 9104,
    "review": 9121,
}
VERIFF_REASONS = {
    102: "Suspected document tampering.",
    104: "Name entered does not match name on document.",
    201: "Video and/or photos missing.",
}
ONFIDO_OUTCOMES: dict[str, tuple[str, str | None]] = {
    "approved": ("approved", None),
    "declined": ("declined", "document_tampering"),
    "name_mismatch": ("declined", "name_mismatch"),
    "review": ("review", None),
    "expired": ("abandoned", None),
    "abandoned": ("abandoned", None),
    "error": ("error", None),
}
VERIFF_EVENTS = frozenset({"started", "submitted"})  # event webhooks, not decisions
ONFIDO_FINAL = frozenset({"approved", "declined", "review", "abandoned", "error"})
# Sessions that ended before a document was read: the vendor gives no names.
NOTHING_READ = frozenset({"expired", "abandoned", "error"})


@dataclass
class Created:
    """What a vendor received when the session was created."""

    vendor: str  # veriff | onfido
    session_id: str
    first_name: str
    last_name: str
    reference: str | None  # Veriff vendorData, Onfido customer_user_id
    return_url: str | None  # Veriff callback, Onfido link.completed_redirect_url
    email: str | None = None  # Onfido's applicant only
    language: str | None = None  # Onfido link.language


@dataclass
class Session:
    created: Created
    status: str  # the vendor's own word
    reason: int | str | None = None  # Veriff reasonCode or Onfido's reason
    identity: dict[str, str] | None = None  # first_name, last_name, document_type, country


@dataclass
class SentCallback:
    session_id: str
    status: str
    answered: int  # the HTTP status the callback URL answered


@dataclass
class FakeIdv:
    base_url: str = ""
    # Where signed callbacks go; None: none is sent (the service must poll). 127.0.0.1 only.
    callback_url: str | None = None
    created: list[Created] = field(default_factory=list)
    # What the next API calls answer instead of success: ("status", 429), ("slow", seconds)…
    script: list[tuple[str, float]] = field(default_factory=list)
    callbacks: list[SentCallback] = field(default_factory=list)
    sessions: dict[str, Session] = field(default_factory=dict)
    _applicants: dict[str, dict[str, str | None]] = field(default_factory=dict)

    # --- driving outcomes ------------------------------------------------------------------

    async def complete(
        self,
        session_id: str,
        outcome: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        document_type: str = "PASSPORT",
        country: str = "FR",
        reason_code: int | str | None = None,
        callback: bool = True,
        bad_signature: bool = False,
    ) -> None:
        """Store the session's new state (names default to the declared ones) and, when
        `callback` and a callback_url are set, post the vendor's signed callback."""
        session = self.sessions[session_id]
        session.status, default_reason = _vendor_outcome(session.created.vendor, outcome)
        session.reason = reason_code if reason_code is not None else default_reason
        declared = session.created
        session.identity = {
            "first_name": first_name if first_name is not None else declared.first_name,
            "last_name": last_name if last_name is not None else declared.last_name,
            "document_type": document_type,
            "country": country,
        }
        if session.status in NOTHING_READ:
            session.identity = None
        if callback and self.callback_url:
            await self.send_callback(session_id, bad_signature=bad_signature)

    async def send_callback(
        self,
        session_id: str,
        status: str | None = None,
        *,
        bad_signature: bool = False,
        unsigned: bool = False,
    ) -> int:
        """Post the vendor's callback for the session (about `status`, in the fake's or the
        vendor's words, when given: a duplicate or out-of-order one) to callback_url; returns
        the HTTP status it answered."""
        url = self.callback_url
        assert url is not None, "set fake.callback_url first"
        assert urlsplit(url).hostname == "127.0.0.1", "callbacks go to 127.0.0.1 only"
        request = self.signed_callback(
            session_id, status, bad_signature=bad_signature, unsigned=unsigned
        )
        async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
            response = await client.post(url, content=request.body, headers=dict(request.headers))
        word = status or self.sessions[session_id].status
        self.callbacks.append(SentCallback(session_id, word, response.status_code))
        return response.status_code

    def signed_callback(
        self,
        session_id: str,
        status: str | None = None,
        *,
        bad_signature: bool = False,
        unsigned: bool = False,
    ) -> CallbackRequest:
        """The callback the vendor would post, as the service would receive it."""
        session = self.sessions[session_id]
        word = _vendor_outcome(session.created.vendor, status)[0] if status else session.status
        if session.created.vendor == "veriff":
            body = _json(_veriff_webhook(session, word))
            headers = {"x-auth-client": VERIFF_KEY, "x-hmac-signature": _hmac(VERIFF_SECRET, body)}
            signature_header = "x-hmac-signature"
        else:
            body = _json(_onfido_webhook(session, word, self.base_url))
            headers = {"x-sha2-signature": _hmac(ONFIDO_WEBHOOK_TOKEN, body)}
            signature_header = "x-sha2-signature"
        if bad_signature:
            headers[signature_header] = _hmac("not-the-vendor's-secret", body)
        if unsigned:
            del headers[signature_header]
        headers["content-type"] = "application/json"
        return CallbackRequest(url=self.callback_url or "", headers=headers, body=body)

    async def _scripted(self) -> Response | None:
        if not self.script:
            return None
        kind, value = self.script.pop(0)
        if kind == "slow":
            await asyncio.sleep(value)
            return None
        headers = {"Retry-After": "2"} if value == 429 else {}
        body = {"status": "fail", "message": "scripted failure", "error": {"type": "scripted"}}
        return JSONResponse(body, int(value), headers=headers)

    def _new_session(self, created: Created, status: str) -> None:
        self.created.append(created)
        self.sessions[created.session_id] = Session(created, status)

    # --- Veriff ----------------------------------------------------------------------------

    async def veriff_create(self, request: Request) -> Response:
        body = await request.body()
        refusal = _veriff_refusal(request, body)
        if refusal is not None:
            return refusal
        if (scripted := await self._scripted()) is not None:
            return scripted
        verification = _dict(json.loads(body)).get("verification")
        if not isinstance(verification, dict):  # {"verification": {}} is enough for Veriff
            return _veriff_error(400, "1102", "Mandatory parameters are missing from the request.")
        person = _dict(verification.get("person"))
        session_id = str(uuid.uuid4())
        created = Created(
            "veriff",
            session_id,
            first_name=str(person.get("firstName", "")),
            last_name=str(person.get("lastName", "")),
            reference=verification.get("vendorData"),
            return_url=verification.get("callback"),
        )
        self._new_session(created, "created")
        session = {
            "id": session_id,
            "url": f"{self.base_url}/hosted/{session_id}",
            "vendorData": created.reference,
            "host": self.base_url,
            "status": "created",
            "sessionToken": "eyJ-not-a-real-token",
        }
        return JSONResponse({"status": "success", "verification": session}, 201)

    async def veriff_decision(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        refusal = _veriff_refusal(request, session_id.encode())
        if refusal is not None:
            return refusal
        if (scripted := await self._scripted()) is not None:
            return scripted
        session = self.sessions.get(session_id)
        if session is None or session.created.vendor != "veriff":
            return _veriff_error(404, "1818", "Session not found")
        decided = session.status not in VERIFF_EVENTS | {"created"}
        decision = _veriff_decision(session, session.status) if decided else None
        return JSONResponse({"status": "success", "verification": decision})

    # --- Onfido ----------------------------------------------------------------------------

    async def onfido_applicant(self, request: Request) -> Response:
        if (refusal := _onfido_refusal(request)) is not None:
            return refusal
        if (scripted := await self._scripted()) is not None:
            return scripted
        body = _dict(json.loads(await request.body()))
        missing = [name for name in ("first_name", "last_name") if not body.get(name)]
        if missing:
            return _onfido_error(
                422, "validation_error", {name: ["can't be blank"] for name in missing}
            )
        applicant_id = str(uuid.uuid4())
        self._applicants[applicant_id] = {
            "first_name": body["first_name"],
            "last_name": body["last_name"],
            "email": body.get("email"),
        }
        return JSONResponse({"id": applicant_id, **self._applicants[applicant_id]}, 201)

    async def onfido_run_create(self, request: Request) -> Response:
        if (refusal := _onfido_refusal(request)) is not None:
            return refusal
        if (scripted := await self._scripted()) is not None:
            return scripted
        body = _dict(json.loads(await request.body()))
        applicant = self._applicants.get(str(body.get("applicant_id")))
        if body.get("workflow_id") != ONFIDO_WORKFLOW or applicant is None:
            return _onfido_error(422, "validation_error", {"workflow_id": ["unknown"]})
        link = _dict(body.get("link"))
        run_id = str(uuid.uuid4())
        created = Created(
            "onfido",
            run_id,
            first_name=str(applicant["first_name"]),
            last_name=str(applicant["last_name"]),
            reference=body.get("customer_user_id"),
            return_url=link.get("completed_redirect_url"),
            email=applicant["email"],
            language=link.get("language"),
        )
        self._new_session(created, "awaiting_input")
        return JSONResponse(_onfido_run(self.sessions[run_id], self.base_url), 201)

    async def onfido_run(self, request: Request) -> Response:
        if (refusal := _onfido_refusal(request)) is not None:
            return refusal
        if (scripted := await self._scripted()) is not None:
            return scripted
        session = self.sessions.get(request.path_params["run_id"])
        if session is None or session.created.vendor != "onfido":
            return _onfido_error(404, "resource_not_found", None)
        return JSONResponse(_onfido_run(session, self.base_url))

    # --- the hosted page -------------------------------------------------------------------

    async def hosted_page(self, request: Request) -> Response:
        session = self.sessions.get(request.path_params["session_id"])
        if session is None:
            return HTMLResponse("<h1>Unknown session</h1>", 404)
        name = escape(f"{session.created.first_name} {session.created.last_name}")
        buttons = "".join(
            f'<button name="outcome" value="{o}">{o}</button>'
            for o in ("approved", "declined", "name_mismatch", "review", "expired")
        )
        return HTMLResponse(
            f"<h1>{session.created.vendor}: {name}</h1><p>status: {escape(session.status)}</p>"
            f'<form method="post">{buttons}</form>'
        )

    async def hosted_finish(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        if session_id not in self.sessions:
            return HTMLResponse("<h1>Unknown session</h1>", 404)
        form = dict(parse_qsl((await request.body()).decode()))
        await self.complete(session_id, form.get("outcome", "approved"))
        return_url = self.sessions[session_id].created.return_url
        if return_url is None:
            return HTMLResponse("<p>Done: you may close this page.</p>")
        return RedirectResponse(return_url, 303)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/sessions", self.veriff_create, methods=["POST"]),
                Route("/v1/sessions/{session_id}/decision", self.veriff_decision, methods=["GET"]),
                Route("/v3.6/applicants", self.onfido_applicant, methods=["POST"]),
                Route("/v3.6/workflow_runs", self.onfido_run_create, methods=["POST"]),
                Route("/v3.6/workflow_runs/{run_id}", self.onfido_run, methods=["GET"]),
                Route("/hosted/{session_id}", self.hosted_page, methods=["GET"]),
                Route("/hosted/{session_id}", self.hosted_finish, methods=["POST"]),
            ]
        )


# --- what the vendors say ----------------------------------------------------------------


def _vendor_outcome(vendor: str, outcome: str) -> tuple[str, int | str | None]:
    """The vendor's status word and default reason for one of the fake's outcomes; any other
    word is the vendor's own."""
    table: dict[str, tuple[str, Any]] = VERIFF_OUTCOMES if vendor == "veriff" else ONFIDO_OUTCOMES
    return table.get(outcome, (outcome, None))


def _veriff_decision(session: Session, status: str) -> dict[str, object]:
    """The decision's `verification`, with what Veriff sends and the adapter must not keep."""
    identity = session.identity or {}
    code = session.reason if status in ("declined", "resubmission_requested") else None
    return {
        "id": session.created.session_id,
        "code": VERIFF_CODES.get(status, 9001),
        "status": status,
        "reason": VERIFF_REASONS.get(code, "Declined.") if isinstance(code, int) else code,
        "reasonCode": code,
        "vendorData": session.created.reference,
        "decisionTime": "2025-01-15T10:00:00.000Z",
        "acceptanceTime": "2025-01-15T09:55:00.000Z",
        "person": {
            "firstName": identity.get("first_name"),
            "lastName": identity.get("last_name"),
            "idNumber": "123456789",
            "dateOfBirth": "1980-01-01",
            "gender": None,
        },
        "document": {
            "number": "19FR12345",
            "type": identity.get("document_type"),
            "country": identity.get("country"),
            "validUntil": "2030-01-01",
        },
    }


def _veriff_webhook(session: Session, status: str) -> dict[str, object]:
    if status in VERIFF_EVENTS:
        return {
            "id": session.created.session_id,
            "attemptId": str(uuid.uuid4()),
            "feature": "selfid",
            "code": VERIFF_CODES[status],
            "action": status,
            "vendorData": session.created.reference,
        }
    return {
        "status": "success",
        "verification": _veriff_decision(session, status),
        "technicalData": {"ip": "192.0.2.1"},
    }


def _onfido_run(session: Session, base_url: str) -> dict[str, object]:
    identity, final = session.identity, session.status in ONFIDO_FINAL
    output = (
        {
            "first_name": identity["first_name"],
            "last_name": identity["last_name"],
            "document_type": identity["document_type"],
            "issuing_country": identity["country"],
            "document_numbers": [{"type": "document_number", "value": "19FR12345"}],
            "date_of_birth": "1980-01-01",
        }
        if identity and final
        else None
    )
    run_id = session.created.session_id
    return {
        "id": run_id,
        "workflow_id": ONFIDO_WORKFLOW,
        "workflow_version_id": 3,
        "status": session.status,
        "customer_user_id": session.created.reference,
        "link": {
            "url": f"{base_url}/hosted/{run_id}",
            "completed_redirect_url": session.created.return_url,
            "language": session.created.language,
        },
        "output": output,
        "reasons": [str(session.reason)] if session.reason else [],
        "error": {"type": "task_error", "message": "a task failed"}
        if session.status == "error"
        else None,
        "dashboard_url": f"https://dashboard.onfido.com/results/{run_id}",
        "created_at": "2025-01-15T09:50:00Z",
        "updated_at": "2025-01-15T10:00:00Z",
    }


def _onfido_webhook(session: Session, status: str, base_url: str) -> dict[str, object]:
    run_id = session.created.session_id
    if status not in ONFIDO_FINAL:  # a task of the run moved: not about the run's outcome
        task = {"id": f"document_capture_{run_id[:8]}", "workflow_run_id": run_id}
        return {
            "payload": {
                "resource_type": "workflow_task",
                "action": "workflow_task.started",
                "object": task,
            }
        }
    completed = {
        "id": run_id,
        "status": status,
        "completed_at_iso8601": "2025-01-15T10:00:00Z",
        "href": f"{base_url}/v3.6/workflow_runs/{run_id}",
    }
    payload = {
        "resource_type": "workflow_run",
        "action": "workflow_run.completed",
        "object": completed,
    }
    return {"payload": payload}


# --- auth checks and errors ----------------------------------------------------------------


def _veriff_refusal(request: Request, signed: bytes) -> Response | None:
    if request.headers.get("x-auth-client") != VERIFF_KEY:
        return _veriff_error(401, "1801", "Mandatory X-AUTH-CLIENT header is missing or wrong.")
    if request.headers.get("x-hmac-signature") != _hmac(VERIFF_SECRET, signed):
        return _veriff_error(401, "1812", "Signature x-hmac-signature does not match.")
    return None


def _veriff_error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"status": "fail", "code": code, "message": message}, status)


def _onfido_refusal(request: Request) -> Response | None:
    if request.headers.get("authorization") != f"Token token={ONFIDO_TOKEN}":
        return _onfido_error(401, "authorization_error", None)
    return None


def _onfido_error(status: int, kind: str, fields: dict[str, list[str]] | None) -> Response:
    messages = {
        "authorization_error": "Authorization error: please re-check your credentials",
        "validation_error": "There was a validation error on this request",
        "resource_not_found": "The resource could not be found",
    }
    error: dict[str, object] = {"type": kind, "message": messages[kind]}
    if fields:
        error["fields"] = fields
    return JSONResponse({"error": error}, status)


def _hmac(secret: str, payload: bytes) -> str:
    """Computed here, not with the adapters' functions: the fake checks them."""
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --- the server, the adapters and the settings pointed at it ------------------------------


@asynccontextmanager
async def fake_idv_vendors() -> AsyncIterator[FakeIdv]:
    fake = FakeIdv()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no start event)
        await asyncio.sleep(0.02)
    fake.base_url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.should_exit = True
        await task


def adapter(name: str, fake: FakeIdv, *, timeout: float = 5.0) -> IdentityProvider:
    """The real adapter ("veriff" or "onfido") with the fake's credentials, at its address."""
    if name == "veriff":
        return VeriffIdentity(
            api_key=VERIFF_KEY, shared_secret=VERIFF_SECRET, base_url=fake.base_url, timeout=timeout
        )
    if name == "onfido":
        return OnfidoIdentity(
            api_token=ONFIDO_TOKEN,
            webhook_token=ONFIDO_WEBHOOK_TOKEN,
            workflow_id=ONFIDO_WORKFLOW,
            base_url=fake.base_url,
            timeout=timeout,
        )
    raise ValueError(f"no fake for {name!r}")


def idv_settings(name: str, fake: FakeIdv) -> dict[str, object]:
    """Settings fields for the service to use `name` at the fake: Settings(**..., **these)."""
    common: dict[str, object] = {"idv_provider": name, "idv_base_url": fake.base_url}
    if name == "veriff":
        return {**common, "veriff_api_key": VERIFF_KEY, "veriff_shared_secret": VERIFF_SECRET}
    return {
        **common,
        "onfido_api_token": ONFIDO_TOKEN,
        "onfido_webhook_token": ONFIDO_WEBHOOK_TOKEN,
        "onfido_workflow_id": ONFIDO_WORKFLOW,
    }
