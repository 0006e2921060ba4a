"""Development conveniences, served only when CACHET_ENV=development and kept out of the
OpenAPI document: the local mailbox, and the page a recipient's link opens."""

from __future__ import annotations

import html
import io
import math
import uuid
from typing import Any

import anyio
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from PIL import Image, ImageDraw
from sqlalchemy import select

from app.api.deps import RuntimeDep, SessionDep
from app.crypto import sha256_hex
from app.envelopes.models import EnvelopeKind, Recipient
from app.envelopes.people import sender_name
from app.errors import NotFound
from app.notifications.mailer import DevMailbox
from app.providers.dev_sms import DevSmsOutbox
from app.workflow.identity import needs_identity
from app.workflow.loading import load_envelope
from app.workflow.models import OtpCode
from app.workflow.otp import needs_code

router = APIRouter(include_in_schema=False)


def _mailbox(runtime: RuntimeDep) -> DevMailbox:
    if not runtime.settings.is_development or not isinstance(runtime.mailer, DevMailbox):
        raise NotFound("mailbox")
    return runtime.mailer


@router.get("/dev/mailbox")
async def list_mailbox(runtime: RuntimeDep) -> dict[str, Any]:
    """Newest first. Each message is also an .eml file under data_dir/mail."""
    entries = await anyio.to_thread.run_sync(_mailbox(runtime).list)
    return {
        "data": [
            {"id": e.id, "to": e.to_address, "subject": e.subject, "date": e.date.isoformat()}
            for e in entries
        ]
    }


def _sms_outbox(runtime: RuntimeDep) -> DevSmsOutbox:
    if not runtime.settings.is_development or not isinstance(runtime.sms, DevSmsOutbox):
        raise NotFound("sms_outbox")
    return runtime.sms


@router.get("/dev/sms")
async def list_sms(runtime: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    """Text messages the development SMS provider 'sent', newest first (DATA_DIR/sms)."""
    messages = await anyio.to_thread.run_sync(_sms_outbox(runtime).messages)
    codes = {uuid.UUID(m.reference) for m in messages}
    rows = await session.execute(
        select(OtpCode.id, OtpCode.envelope_id, OtpCode.recipient_id).where(OtpCode.id.in_(codes))
    )
    owners = {row.id: (str(row.envelope_id), str(row.recipient_id)) for row in rows}
    return {
        "data": [
            {
                "id": m.id,
                "to": m.to,
                "text": m.text,
                "sent_at": m.sent_at.isoformat(),
                "envelope_id": owners.get(uuid.UUID(m.reference), (None, None))[0],
                "recipient_id": owners.get(uuid.UUID(m.reference), (None, None))[1],
            }
            for m in messages
        ]
    }


@router.get("/dev/mailbox/{message_id}")
async def read_mailbox_message(message_id: str, runtime: RuntimeDep) -> dict[str, Any]:
    message = await anyio.to_thread.run_sync(_mailbox(runtime).read, message_id)
    if message is None:
        raise NotFound("message")
    return {
        "id": message.id,
        "to": message.to_address,
        "subject": message.subject,
        "date": message.date.isoformat(),
        "text": message.text,
        "html": message.html,
    }


@router.get("/sign/{token}", response_class=HTMLResponse)
async def signing_page(token: str, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    """What the link opens until the platform points CACHET_SIGNING_URL at its own page.

    A GET changes nothing (mail scanners open links): it shows the envelope and the API calls
    that act on it; opening a session is what records "opened"."""
    recipient = await session.scalar(
        select(Recipient).where(Recipient.token_hash == sha256_hex(token))
    )
    if recipient is None:
        return HTMLResponse(_page("Link not valid", "<p>This link is unknown.</p>"), 404)
    envelope = await load_envelope(session, recipient.envelope_id, lock=False)
    base = runtime.settings.base_url
    documents = "".join(
        f"<li>{html.escape(d.filename)} ({d.size_bytes} bytes)</li>" for d in envelope.documents
    )
    action_call = _code_calls(base) if needs_code(envelope) else ""
    action_call += _identity_calls(base) if needs_identity(envelope) else ""
    action_call += _action_call(base, envelope.kind)
    body = f"""
<p><strong>{html.escape(envelope.name or "Untitled envelope")}</strong>
 from {html.escape(sender_name(envelope))} — status <code>{envelope.status.value}</code>,
 your status <code>{recipient.status.value}</code>.</p>
<ul>{documents}</ul>
<p>Act through the API (the platform's own page will do this for you):</p>
<pre>SESSION=$(curl -s -X POST {base}/v1/signing/sessions -H 'Content-Type: application/json' \\
  -d '{{"token": "{html.escape(token)}"}}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["session_token"])')
curl -s {base}/v1/signing/envelope -H "Authorization: Bearer $SESSION"
{action_call}</pre>"""
    return HTMLResponse(_page("Cachet", body))


def _code_calls(base: str) -> str:
    """eIDAS levels: the SMS code first; the development outbox shows what was 'sent'."""
    return (
        f'curl -s -X POST {base}/v1/signing/otp -H "Authorization: Bearer $SESSION"\n'
        f"curl -s {base}/dev/sms   # the newest text holds the code\n"
        f'curl -s -X POST {base}/v1/signing/otp/verify -H "Authorization: Bearer $SESSION" \\\n'
        "  -H 'Content-Type: application/json' -d '{\"code\": \"123456\"}'\n"
    )


def _identity_calls(base: str) -> str:
    """eIDAS advanced: the identity check next; the development provider's page decides it."""
    return (
        f'curl -s -X POST {base}/v1/signing/identity -H "Authorization: Bearer $SESSION"\n'
        "# open verification_url (/dev/identity/…) in a browser and approve, then:\n"
        f'curl -s {base}/v1/signing/identity -H "Authorization: Bearer $SESSION"\n'
    )


def _action_call(base: str, kind: EnvelopeKind) -> str:
    if kind is EnvelopeKind.approval:
        return (
            f'curl -s -X POST {base}/v1/signing/approve -H "Authorization: Bearer $SESSION" \\\n'
            "  -H 'Content-Type: application/json' -d '{}'"
        )
    return (
        f"curl -s -o signature.png {base}/dev/sample-signature.png   # or your own PNG\n"
        f'curl -s -X POST {base}/v1/signing/sign -H "Authorization: Bearer $SESSION" \\\n'
        "  -H 'Content-Type: application/json' \\\n"
        '  -d "{\\"consent\\": true, \\"signature_image\\": \\"$(base64 -w0 signature.png)\\"}"'
    )


@router.get("/dev/sample.pdf")
async def sample_pdf() -> Response:
    """A one-page A4 contract to try the walkthroughs with, when no PDF is at hand."""
    return Response(sample_pdf_bytes(), media_type="application/pdf")


def sample_pdf_bytes() -> bytes:
    """Written by hand (no library needed): four objects, their offsets, a trailer."""
    text = b"BT /F1 18 Tf 72 760 Td (Contrat d'exemple - Cachet) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@router.get("/dev/sample-signature.png")
async def sample_signature() -> Response:
    """A made-up handwritten signature, to try POST /v1/signing/sign without drawing one."""
    return Response(await anyio.to_thread.run_sync(sample_signature_png), media_type="image/png")


def sample_signature_png() -> bytes:
    image = Image.new("RGBA", (360, 120), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    points = [(20 + x, 60 + int(30 * math.sin(x / 18)) - x // 12) for x in range(0, 320, 4)]
    draw.line(points, fill=(20, 30, 110, 255), width=5, joint="curve")
    draw.line([(40, 95), (320, 85)], fill=(20, 30, 110, 255), width=3)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>"
        f"<body style='font-family: sans-serif; max-width: 48rem; margin: 2rem auto'>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
