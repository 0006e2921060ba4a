"""Development only: the identity provider's "hosted page" when CACHET_IDV_PROVIDER=dev, kept
out of the OpenAPI document. The signer's verification_url leads to GET
/dev/identity/{session_id}: approve or decline by hand, with the names "read from the document"
(prefilled with the recipient's, change them to try a mismatch). The same through POST
/dev/identity/{session_id}/complete; the service then reads the result as from any provider."""

from __future__ import annotations

import html
import json
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from app.api.deps import RuntimeDep
from app.errors import Conflict, NotFound
from app.providers.dev_identity import DevIdentity
from app.schemas import RequestBody, ResponseBody
from app.workflow.identity_flow import refresh

router = APIRouter(include_in_schema=False)


class DevIdentityOutcome(RequestBody):
    outcome: Literal["approved", "declined", "review", "expired"]
    first_name: str = ""
    last_name: str = ""
    document_type: str | None = "ID_CARD"
    country: str | None = "FR"
    reason: str | None = None


class DevIdentityDone(ResponseBody):
    session_id: str
    outcome: str


def _dev_identity(runtime: RuntimeDep) -> DevIdentity:
    if not runtime.settings.is_development or not isinstance(runtime.identity, DevIdentity):
        raise NotFound("identity_session")
    return runtime.identity


@router.post("/dev/identity/{session_id}/complete", response_model=DevIdentityDone)
async def complete_identity(
    session_id: str, body: DevIdentityOutcome, runtime: RuntimeDep
) -> DevIdentityDone:
    """Decides the session, then the service reads it back (as after a vendor's callback)."""
    provider = _dev_identity(runtime)
    try:
        await provider.complete(
            session_id,
            outcome=body.outcome,
            first_name=body.first_name,
            last_name=body.last_name,
            document_type=body.document_type,
            country=body.country,
            reason=body.reason,
        )
    except LookupError:
        raise NotFound("identity_session") from None
    except ValueError as error:
        raise Conflict("identity_session_final", str(error)) from None
    await refresh(runtime, provider.name, session_id)
    return DevIdentityDone(session_id=session_id, outcome=body.outcome)


@router.get("/dev/identity/{session_id}", response_class=HTMLResponse)
async def identity_page(session_id: str, runtime: RuntimeDep) -> HTMLResponse:
    provider = _dev_identity(runtime)
    try:
        found = await provider.session(session_id)
    except LookupError:
        raise NotFound("identity_session") from None
    return HTMLResponse(_page(session_id, found.first_name, found.last_name, found.status.value))


def _page(session_id: str, first_name: str, last_name: str, status: str) -> str:
    complete_url = json.dumps(f"/dev/identity/{session_id}/complete")
    first, last = html.escape(first_name, quote=True), html.escape(last_name, quote=True)
    return f"""<!doctype html><html><head><meta charset='utf-8'>
<title>Identity check (development)</title></head>
<body style='font-family: sans-serif; max-width: 40rem; margin: 2rem auto'>
<h1>Identity check (development)</h1>
<p>Session <code>{html.escape(session_id)}</code>,
status <code id='status'>{html.escape(status)}</code>.
No document is read here: choose the outcome, and the names "on the document".</p>
<form id='identity'>
<p><label>First name(s) <input name='first_name' value='{first}'></label></p>
<p><label>Last name <input name='last_name' value='{last}'></label></p>
<p><label>Document <select name='document_type'><option>ID_CARD</option><option>PASSPORT</option>
<option>DRIVERS_LICENSE</option></select></label>
<label>Country <input name='country' value='FR' size='3'></label></p>
<p><button name='outcome' value='approved'>Approve</button>
<button name='outcome' value='declined'>Decline</button></p>
</form>
<script>
document.getElementById('identity').addEventListener('submit', async (event) => {{
  event.preventDefault();
  const form = new FormData(event.target);
  const body = Object.fromEntries(form.entries());
  body.outcome = event.submitter.value;
  const answer = await fetch({complete_url}, {{method: 'POST',
    headers: {{'Content-Type': 'application/json'}}, body: JSON.stringify(body)}});
  document.getElementById('status').textContent =
    answer.ok ? body.outcome + ': you can go back to the signing page' : await answer.text();
}});
</script></body></html>"""
