"""Driving signature envelopes over HTTP, and checking what comes out with pyHanko itself."""

from __future__ import annotations

import asyncio
import base64
import io
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko_certvalidator import ValidationContext

from tests.signing.ades import strict_ades_verdicts
from tests.signing.pdfsig import pdfsig_verdicts
from tests.signing.testpki import TestPki
from tests.support import ApiClient, make_pdf
from tests.support.polling import eventually
from tests.workflow.support import Recipient, send


def signature_png(width: int = 300, height: int = 100, color: str = "navy") -> bytes:
    """A 'handwritten' signature: a stroke on a transparent background."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    for x in range(10, width - 10):
        y = height // 2 + int((height / 4) * ((x % 40) - 20) / 20)
        for dy in range(-2, 3):
            image.putpixel((x, min(max(y + dy, 0), height - 1)), _rgba(color))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _rgba(color: str) -> tuple[int, int, int, int]:
    return {"navy": (0, 0, 128, 255), "red": (255, 0, 0, 255)}[color]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def sign(recipient: Recipient, png: bytes, *, consent: bool = True) -> httpx.Response:
    return await recipient.post(
        "/v1/signing/sign", json={"consent": consent, "signature_image": b64(png)}
    )


async def wait_until_signed(recipient: Recipient, *, within: float = 60) -> dict[str, Any]:
    """Polls the recipient's view until the signing job has finished for them."""
    return await eventually(
        recipient.view,
        lambda view: view["me"]["status"] == "signed",
        within=within,
        what=lambda view: f"not signed: {view['me']}",
        every=0.1,
    )


async def put_stamp(
    api: ApiClient, envelope_id: str, document_id: str, recipient_id: str, **box: Any
) -> None:
    body = {"page": 1, "x": 50, "y": 600, "width": 180, "height": 60, "style": "plain", **box}
    url = f"/v1/envelopes/{envelope_id}/documents/{document_id}/stamps/{recipient_id}"
    response = await api.put(url, json=body)
    assert response.status_code in (200, 201), response.text


@dataclass(frozen=True)
class Verdict:
    field: str
    kind: str
    bottom_line: bool
    summary: str


async def pyhanko_verdicts(pdf: bytes, pki: TestPki) -> list[Verdict]:
    """Every signature and document timestamp, validated against the test root (revocation
    data fetched from the test PKI's responders when the file does not carry it)."""
    reader = PdfFileReader(io.BytesIO(pdf))
    verdicts = []
    for embedded in reader.embedded_signatures:
        context = ValidationContext(trust_roots=[pki.root], allow_fetching=True)
        try:
            verdicts.append(await _verdict(embedded, context))
        finally:
            await context.aclose()  # type: ignore[no-untyped-call]
    return verdicts


async def _verdict(embedded: EmbeddedPdfSignature, context: ValidationContext) -> Verdict:
    if embedded.sig_object_type == "/DocTimeStamp":
        ts_status = await async_validate_pdf_timestamp(embedded, validation_context=context)
        good = ts_status.valid and ts_status.intact and ts_status.trusted
        return Verdict(embedded.field_name, "timestamp", good, ts_status.summary())
    # One context for the signer and its timestamp, so the one aclose() closes every fetcher.
    status = await async_validate_pdf_signature(
        embedded, signer_validation_context=context, ts_validation_context=context
    )
    return Verdict(embedded.field_name, "signature", status.bottom_line, status.summary())


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


async def check_valid(
    pdf: bytes, pki: TestPki, tmp_path: Path, name: str, *, signatures: int, archived: bool = False
) -> None:
    """pyHanko (bottom_line, timestamps included) and pdfsig (with the test root trusted) both
    accept every signature, and poppler renders every page without complaint. An archived file
    (the signed version of a completed envelope) must also pass check_archived."""
    if archived:
        await check_archived(pdf, pki)
    verdicts = await pyhanko_verdicts(pdf, pki)
    signed = [v for v in verdicts if v.kind == "signature"]
    assert len(signed) == signatures, verdicts
    assert all(v.bottom_line for v in verdicts), verdicts
    reported = await asyncio.to_thread(pdfsig_verdicts, write(tmp_path, name, pdf), pki.root_pem)
    # pdfsig lists document timestamps but does not verify them; pyHanko did, above.
    timestamps = {v.field for v in verdicts if v.kind == "timestamp"}
    by_pdfsig = [s for s in reported if s.field not in timestamps]
    assert len(by_pdfsig) == signatures, by_pdfsig
    assert all(s.valid and s.certificate_trusted is not False for s in by_pdfsig), by_pdfsig
    await asyncio.to_thread(renders_cleanly, tmp_path / name)


async def check_archived(pdf: bytes, pki: TestPki) -> None:
    """PAdES B-LTA that holds outside development: a document timestamp last, and every
    signature passes pyHanko's strict AdES validation offline (hard-fail, revocation data
    required for every certificate, nothing fetched: the file carries it all)."""
    reader = PdfFileReader(io.BytesIO(pdf))
    assert reader.embedded_signatures[-1].sig_object_type == "/DocTimeStamp"
    verdicts = await strict_ades_verdicts(pdf, [pki.root])
    assert verdicts and all(v.passed for v in verdicts), verdicts


def renders_cleanly(pdf: Path) -> None:
    """poppler draws every page, stamps included, without a syntax complaint."""
    rendered = subprocess.run(
        ["pdftoppm", "-r", "20", "-png", str(pdf), str(pdf.with_suffix(""))],
        capture_output=True,
        text=True,
        check=True,
    )
    assert rendered.stderr == "", rendered.stderr


async def sent_signature_envelope(api: ApiClient, tag: str, signers: int = 2) -> dict[str, Any]:
    """Sent, one PDF, signers `s0+{tag}@example.com`, `s1+…` each with a stamp; as the API
    shows it after send."""
    envelope = await api.envelope(kind="signature", name=f"Envelope {tag}")
    response = await api.upload(envelope["id"], make_pdf(), filename="c.pdf")
    assert response.status_code == 201, response.text
    document_id = response.json()["id"]
    for index in range(signers):
        recipient = await api.add_recipient(
            envelope["id"], email=f"s{index}+{tag}@example.com", first_name=f"S{index}"
        )
        await put_stamp(api, envelope["id"], document_id, recipient["id"], x=40 + 200 * index)
    await send(api, envelope["id"])
    return await api.get_envelope(envelope["id"])
