"""Development conveniences, served only when CACHET_ENV=development and kept out of the
OpenAPI document: the local mailbox, the SMS outbox, a sample PDF and signature."""

from __future__ import annotations

import io
import math
import uuid
from typing import Any

import anyio
from fastapi import APIRouter
from fastapi.responses import Response
from PIL import Image, ImageDraw
from sqlalchemy import select

from app.api.deps import RuntimeDep, SessionDep
from app.errors import NotFound
from app.notifications.mailer import DevMailbox
from app.providers.dev_sms import DevSmsOutbox
from app.workflow.models import OtpCode

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
