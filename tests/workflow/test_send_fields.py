"""Send adds the signature fields: a name already taken in the document is a 409 naming the
document and the field, with nothing changed; and pyHanko's parsing of the uploaded file runs in
the gate's worker processes, off the service's event loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app.pdf.gate import GateLimits, PdfGate
from app.runtime import Runtime
from app.workflow.service import APPLY_SIGNATURE
from bench.signing import loop_lag
from tests.pdf import corpus
from tests.signing.testpki import TestPki
from tests.support import ApiClient, make_pdf
from tests.support.polling import eventually
from tests.support.sinks import MailSink
from tests.workflow.signing_support import (
    check_valid,
    put_stamp,
    pyhanko_verdicts,
    sign,
    signature_png,
    wait_until_signed,
)
from tests.workflow.support import open_invitation, send


async def _draft(api: ApiClient, tag: str, signers: int = 2) -> tuple[str, list[dict[str, Any]]]:
    envelope = await api.envelope(kind="signature", name=f"Fields {tag}")
    recipients = [
        await api.add_recipient(envelope["id"], email=f"f{index}+{tag}@example.com")
        for index in range(signers)
    ]
    return envelope["id"], recipients


async def _upload_with_stamps(
    api: ApiClient, envelope_id: str, recipients: list[dict[str, Any]], pdf: bytes, name: str
) -> str:
    response = await api.upload(envelope_id, pdf, filename=name)
    assert response.status_code == 201, response.text
    document_id: str = response.json()["id"]
    for index, recipient in enumerate(recipients):
        await put_stamp(api, envelope_id, document_id, recipient["id"], x=40 + 250 * index)
    return document_id


def _cachet_name(recipient: dict[str, Any], position: int) -> str:
    return f"Signer{position}-{recipient['id'].replace('-', '')[:8]}"


async def _content(api: ApiClient, envelope_id: str, document_id: str, version: str = "") -> bytes:
    query = f"?version={version}" if version else ""
    response = await api.get(f"/v1/envelopes/{envelope_id}/documents/{document_id}/content{query}")
    assert response.status_code == 200, response.text
    return response.content


async def _current(api: ApiClient, envelope_id: str, document_id: str) -> bytes:
    return await _content(api, envelope_id, document_id, "current")


@pytest.mark.parametrize(
    ("field_type", "signer"),
    [("/Sig", 1), ("/Sig", 2), ("/Tx", 2)],
    ids=["signature-field-of-signer-1", "signature-field-of-signer-2", "text-field-of-signer-2"],
)
async def test_send_refuses_a_document_holding_a_field_of_a_signers_name(
    api: ApiClient, mail: MailSink, field_type: str, signer: int
) -> None:
    tag = f"taken{signer}{field_type[1:]}"
    envelope_id, recipients = await _draft(api, tag)
    await _upload_with_stamps(api, envelope_id, recipients, make_pdf(), "clean.pdf")
    taken = _cachet_name(recipients[signer - 1], signer)
    hostile = corpus.with_form_field(taken, field_type)
    document_id = await _upload_with_stamps(api, envelope_id, recipients, hostile, "form.pdf")
    events_before = (await api.get(f"/v1/envelopes/{envelope_id}/events")).json()

    response = await api.post(f"/v1/envelopes/{envelope_id}/send")

    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "field_name_taken"
    assert (problem["document_id"], problem["field_name"]) == (document_id, taken)
    assert "'form.pdf'" in problem["detail"] and f"signer {signer}" in problem["detail"]
    # Nothing of the send remains: still a draft, no event, no invitation, no new version.
    envelope = await api.get_envelope(envelope_id)
    assert envelope["status"] == "draft"
    assert (await api.get(f"/v1/envelopes/{envelope_id}/events")).json() == events_before
    assert await _current(api, envelope_id, document_id) == hostile
    await asyncio.sleep(0.3)
    assert mail.to(f"f0+{tag}@example.com") == []

    # Without that document, the same envelope sends.
    removed = await api.delete(f"/v1/envelopes/{envelope_id}/documents/{document_id}")
    assert removed.status_code == 204, removed.text
    assert (await send(api, envelope_id))["status"] == "in_progress"


async def test_send_keeps_the_certification_field_name_free(
    api: ApiClient, runtime: Runtime, test_pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """certify_pdf fills a field of its name if it finds one: the file's own would be used."""
    monkeypatch.setattr(runtime.settings, "signing_certify", True)
    envelope_id, recipients = await _draft(api, "certname")
    hostile = corpus.with_form_field("CachetCertification")
    document_id = await _upload_with_stamps(api, envelope_id, recipients, hostile, "c.pdf")
    response = await api.post(f"/v1/envelopes/{envelope_id}/send")
    assert response.status_code == 409, response.text
    assert response.json()["field_name"] == "CachetCertification"
    assert "certification" in response.json()["detail"]

    removed = await api.delete(f"/v1/envelopes/{envelope_id}/documents/{document_id}")
    assert removed.status_code == 204
    document_id = await _upload_with_stamps(api, envelope_id, recipients, make_pdf(), "c.pdf")
    await send(api, envelope_id)
    certified = await pyhanko_verdicts(await _current(api, envelope_id, document_id), test_pki)
    assert [(v.field, v.bottom_line) for v in certified] == [("CachetCertification", True)]


async def test_send_refuses_a_document_past_the_gates_caps(
    api: ApiClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adding the fields runs under the gate's limits: past them, a 422 naming the document."""
    envelope_id, recipients = await _draft(api, "caps")
    form = await asyncio.to_thread(corpus.form_fields, 500)
    document_id = await _upload_with_stamps(api, envelope_id, recipients, form, "big.pdf")
    strict = PdfGate(GateLimits(wall_seconds=0.001), workers=1)
    monkeypatch.setattr(runtime, "pdf_gate", strict)
    try:
        response = await api.post(f"/v1/envelopes/{envelope_id}/send")
    finally:
        await strict.aclose()
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["code"], problem["document_id"]) == ("too_complex", document_id)
    assert "'big.pdf'" in problem["detail"]
    assert (await api.get_envelope(envelope_id))["status"] == "draft"


async def test_send_adds_fields_next_to_a_foreign_empty_signature_field(api: ApiClient) -> None:
    """An empty signature field under another name stays, and Cachet's fields join it."""
    envelope_id, recipients = await _draft(api, "foreign")
    document_id = await _upload_with_stamps(
        api, envelope_id, recipients, corpus.empty_signature_field(), "f.pdf"
    )
    await send(api, envelope_id)
    names = await asyncio.to_thread(
        corpus.form_field_names, await _current(api, envelope_id, document_id)
    )
    assert names == {"Signature1", *(_cachet_name(r, i + 1) for i, r in enumerate(recipients))}


async def test_the_largest_form_accepted_is_signed_with_cachets_fields_first(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    runtime: Runtime,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    """1,000 fields (the gate's cap): Cachet's come first in /Fields, so that each signature
    finds its own without pyHanko parsing the whole form; every signature validates."""
    size = runtime.settings.pdf_max_form_fields
    tag = "largeform"
    envelope_id, recipients = await _draft(api, tag)
    form = await asyncio.to_thread(corpus.form_fields, size)
    document_id = await _upload_with_stamps(api, envelope_id, recipients, form, "form.pdf")
    await send(api, envelope_id)
    sent = await _current(api, envelope_id, document_id)
    ours = [_cachet_name(r, i + 1) for i, r in enumerate(recipients)]
    assert (await asyncio.to_thread(corpus.top_field_names, sent))[:3] == [*ours, "field0"]
    for index in range(len(recipients)):
        async with open_invitation(base_url, mail, f"f{index}+{tag}@example.com") as signer:
            assert (await sign(signer, signature_png())).status_code == 202
            await wait_until_signed(signer)
    signed = await _content(api, envelope_id, document_id)
    await check_valid(signed, test_pki, tmp_path, "form.pdf", signatures=len(recipients))


# --- off the event loop ------------------------------------------------------------------------


async def _signing_jobs_pending(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        count = await session.scalar(
            text(
                "SELECT count(*) FROM pgqueuer WHERE entrypoint = :signing "
                "AND status::text IN ('queued', 'picked')"
            ),
            {"signing": APPLY_SIGNATURE},
        )
    return int(count or 0)


async def test_send_parses_the_document_in_the_gate_not_in_the_service(
    api: ApiClient, runtime: Runtime
) -> None:
    """150,000 objects: pyHanko spends seconds of CPU reading their cross-reference entries
    and allocates ~4 tracked objects for each. In a thread of the service, that CPU is the
    service's and the garbage collections it sets off stall the loop for hundreds of ms.

    Signing jobs of earlier tests still run in this process (pyHanko, in a thread): they would
    be measured too, so the measure waits for them to end."""
    envelope_id, recipients = await _draft(api, "heavy")
    heavy = await asyncio.to_thread(corpus.many_objects, 150_000)
    await _upload_with_stamps(api, envelope_id, recipients, heavy, "heavy.pdf")
    await eventually(lambda: _signing_jobs_pending(runtime), lambda n: n == 0, within=120)
    cpu_before = time.process_time()
    async with loop_lag() as lags:
        await send(api, envelope_id)
    cpu = time.process_time() - cpu_before
    print(
        f"send, 150,000 objects: {cpu:.2f} s of the service's CPU, loop lag max "
        f"{max(lags) * 1000:.1f} ms over {len(lags)} ticks"
    )
    assert cpu < 1.0, f"the service spent {cpu:.2f} s of CPU on send"
    assert max(lags) < 0.05, f"the loop stalled {max(lags) * 1000:.0f} ms during send"
