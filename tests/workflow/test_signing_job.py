"""The signing job: running it again changes nothing, and it gives up on an ended envelope."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.jobs.admin import list_failed_jobs
from app.runtime import Runtime
from app.workflow.models import SignatureRequest, SignatureRequestStatus
from app.workflow.tasks import apply_signature_job
from tests.signing.testpki import TestPki
from tests.support import ApiClient, make_pdf
from tests.support.polling import eventually
from tests.support.sinks import MailSink, text_of
from tests.workflow.signing_support import (
    check_valid,
    put_stamp,
    sent_signature_envelope,
    sign,
    signature_png,
    wait_until_signed,
)
from tests.workflow.support import open_invitation, send


async def _request(runtime: Runtime, envelope_id: str) -> SignatureRequest:
    async with runtime.sessions() as session:
        found = await session.scalar(
            select(SignatureRequest).where(SignatureRequest.envelope_id == uuid.UUID(envelope_id))
        )
    assert found is not None
    return found


async def _state(api: ApiClient, envelope_id: str) -> tuple[list[Any], int]:
    envelope = await api.get_envelope(envelope_id)
    events = (await api.get(f"/v1/envelopes/{envelope_id}/events")).json()["data"]
    # Emails are sent by their own jobs, whenever they run: their events are left out.
    return [d["current_sha256"] for d in envelope["documents"]], len(
        [e for e in events if not e["type"].startswith("email.")]
    )


async def _first_signer_signed(
    api: ApiClient, base_url: str, mail: MailSink, tag: str, pki: TestPki, tmp_path: Path
) -> dict[str, Any]:
    envelope = await sent_signature_envelope(api, tag)
    async with open_invitation(base_url, mail, f"s0+{tag}@example.com") as signer:
        assert (await sign(signer, signature_png())).status_code == 202
        await wait_until_signed(signer)
    await _check_current(api, envelope, pki, tmp_path, signatures=1)
    return envelope


async def _check_current(
    api: ApiClient, envelope: dict[str, Any], pki: TestPki, tmp_path: Path, *, signatures: int
) -> None:
    for document in (await api.get_envelope(envelope["id"]))["documents"]:
        url = f"/v1/envelopes/{envelope['id']}/documents/{document['id']}/content"
        pdf = (await api.get(url)).content
        await check_valid(pdf, pki, tmp_path, f"{document['id']}.pdf", signatures=signatures)


async def test_running_the_job_again_adds_no_second_signature(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    runtime: Runtime,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    envelope = await _first_signer_signed(api, base_url, mail, "again", test_pki, tmp_path)
    request = await _request(runtime, envelope["id"])
    assert request.status is SignatureRequestStatus.applied
    before = await _state(api, envelope["id"])
    await apply_signature_job(runtime, {"request_id": str(request.id)})
    assert await _state(api, envelope["id"]) == before


async def test_the_job_abandons_a_request_once_the_envelope_ended(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    runtime: Runtime,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    """A cancel that lands between POST /sign and the job: the job must not sign."""
    envelope = await _first_signer_signed(api, base_url, mail, "ended", test_pki, tmp_path)
    applied = await _request(runtime, envelope["id"])
    canceled = await api.post(f"/v1/envelopes/{envelope['id']}/cancel", json={"reason": "x"})
    assert canceled.status_code == 200, canceled.text
    second = (await api.get_envelope(envelope["id"]))["recipients"][1]["id"]
    late = SignatureRequest(
        tenant_id=applied.tenant_id,
        envelope_id=applied.envelope_id,
        recipient_id=uuid.UUID(second),
        status=SignatureRequestStatus.pending,
        consent_text="test",
        method="email_link",
        image_sha256=applied.image_sha256,
        image_width=applied.image_width,
        image_height=applied.image_height,
        requested_at=runtime.clock.now(),
    )
    async with runtime.sessions() as session, session.begin():
        session.add(late)
    before = await _state(api, envelope["id"])
    await apply_signature_job(runtime, {"request_id": str(late.id)})
    assert await _state(api, envelope["id"]) == before
    async with runtime.sessions() as session:
        row = await session.get(SignatureRequest, late.id)
    assert row is not None and row.status is SignatureRequestStatus.abandoned


async def test_completion_emails_leave_files_out_above_the_attachment_limit(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(runtime.settings, "mail_attachments_max_bytes", 1000)
    envelope = await api.envelope(kind="signature", distribute_to_signers=True)
    upload = await api.upload(envelope["id"], make_pdf(), filename="big.pdf")
    signer = await api.add_recipient(envelope["id"], email="solo+limit@example.com")
    await put_stamp(api, envelope["id"], upload.json()["id"], signer["id"])
    await send(api, envelope["id"])
    async with open_invitation(base_url, mail, "solo+limit@example.com") as browser:
        assert (await sign(browser, signature_png())).status_code == 202
        await wait_until_signed(browser)
    await _check_current(api, envelope, test_pki, tmp_path, signatures=1)
    completed = (await mail.wait_for("solo+limit@example.com", count=2))[-1]
    assert list(completed.iter_attachments()) == []
    assert "/sign/" in text_of(completed)  # the link is how they get the files


async def test_a_tsa_that_stays_down_is_waited_for_and_the_signature_follows(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    """A service the signature needs is not the document's fault: nothing is signed, nothing
    fails, the sender sees the problem, and the job signs once the TSA answers again."""
    envelope = await sent_signature_envelope(api, "tsa")
    before = await _state(api, envelope["id"])
    working = runtime.settings
    # Nothing listens on port 9 (discard): every timestamp request is refused. (The signing
    # workers load the seal the settings describe.)
    monkeypatch.setattr(
        runtime, "settings", working.model_copy(update={"tsa_url": "http://127.0.0.1:9/"})
    )
    async with open_invitation(base_url, mail, "s0+tsa@example.com") as signer:
        assert (await sign(signer, signature_png())).status_code == 202

        async def state() -> dict[str, Any]:
            return await api.get_envelope(envelope["id"])

        waiting = await eventually(state, lambda e: e["problem"] is not None, within=30)
        assert waiting["status"] == "in_progress"
        assert waiting["problem"]["code"] == "signing_service_unavailable"
        assert "127.0.0.1:9" in waiting["problem"]["detail"]
        view = await signer.view()
        assert view["me"]["status"] != "signed" and view["me"]["signature"] == "pending"
        documents, _ = await _state(api, envelope["id"])
        assert documents == before[0]  # no partial signature anywhere
        request = await _request(runtime, envelope["id"])
        failed_jobs = await list_failed_jobs(runtime.database_url)
        assert not [j for j in failed_jobs if str(request.id).encode() in (j.payload or b"")]

        monkeypatch.setattr(runtime, "settings", working)
        await wait_until_signed(signer)
    assert (await api.get_envelope(envelope["id"]))["problem"] is None
    events = (await api.get(f"/v1/envelopes/{envelope['id']}/events")).json()["data"]
    assert "recipient.signature_failed" not in [e["type"] for e in events]
    await _check_current(api, envelope, test_pki, tmp_path, signatures=1)


async def _wait_for_event(api: ApiClient, envelope_id: str, type: str) -> dict[str, Any]:
    async def of_type() -> list[dict[str, Any]]:
        events = (await api.get(f"/v1/envelopes/{envelope_id}/events")).json()["data"]
        return [e for e in events if e["type"] == type]

    found = await eventually(of_type, bool, within=30, what=f"no {type} event", every=0.1)
    return found[-1]
