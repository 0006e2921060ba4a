"""A signature envelope end to end over HTTP and SMTP: three signers, two PDFs, real PAdES.

After each signature and at the end, every signature is checked by pyHanko (bottom_line) and by
poppler's pdfsig with the test root trusted, and the uploaded bytes stay a prefix of each file.
The final files (and the evidence PDF) must also pass pyHanko's strict AdES validation offline:
revocation data for every certificate is in the file (B-LTA outside development).
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from app.runtime import Runtime
from tests.signing.pdfsig import pdfsig_verdicts
from tests.signing.testpki import TestPki
from tests.support import ApiClient, make_pdf
from tests.support.sinks import MailSink
from tests.workflow.signing_support import (
    check_archived,
    check_valid,
    put_stamp,
    pyhanko_verdicts,
    sign,
    signature_png,
    wait_until_signed,
    write,
)
from tests.workflow.support import Recipient, open_invitation, send

SIGNERS = [
    ("Zoë", "Müller", "zoe.sig@example.com"),
    ("François", "Garçon", "francois.sig@example.com"),
    ("Łukasz", "Straße", "lukasz.sig@example.com"),
]


async def _ready_envelope(api: ApiClient, tag: str) -> tuple[dict[str, Any], list[str], list[str]]:
    envelope = await api.envelope(
        kind="signature",
        name=f"Contrat {tag}",
        distribute_to_signers=True,
        sender_copy=True,
    )
    contract = make_pdf(2)
    annex = make_pdf(1, rotate=90)  # displayed landscape: the stamp must follow the rotation
    documents = []
    for content, name in ((contract, "contrat.pdf"), (annex, "annexe.pdf")):
        response = await api.upload(envelope["id"], content, filename=name)
        assert response.status_code == 201, response.text
        documents.append(response.json()["id"])
    recipients = []
    for index, (first, last, email) in enumerate(SIGNERS):
        address = email.replace("@", f"+{tag}@")
        added = await api.add_recipient(
            envelope["id"], email=address, first_name=first, last_name=last
        )
        recipients.append(added["id"])
        for document_id in documents:
            style = {"style": "with_text", "text": "Lu et approuvé"} if index == 1 else {}
            await put_stamp(
                api,
                envelope["id"],
                document_id,
                added["id"],
                x=20 + 190 * index,
                y=400,
                width=180,
                **style,
            )
    return envelope, documents, recipients


async def _content(api: ApiClient, envelope_id: str, document_id: str, version: str = "") -> bytes:
    query = f"?version={version}" if version else ""
    response = await api.get(f"/v1/envelopes/{envelope_id}/documents/{document_id}/content{query}")
    assert response.status_code == 200, response.text
    return response.content


async def test_three_signers_two_documents_end_to_end(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    test_pki: TestPki,
    runtime: Runtime,
    tmp_path: Path,
) -> None:
    envelope, documents, _recipients = await _ready_envelope(api, "e2e")
    originals = [await _content(api, envelope["id"], d, "original") for d in documents]
    await send(api, envelope["id"])
    # The development sample (what the README uses); its 3:1 shape fills a 180x60 stamp exactly.
    sample = await api.get("/dev/sample-signature.png")
    assert sample.headers["content-type"] == "image/png"
    png = sample.content

    for index, (_, _, email) in enumerate(SIGNERS):
        address = email.replace("@", "+e2e@")
        async with open_invitation(base_url, mail, address) as signer:
            view = await signer.view()
            assert view["me"]["actions"] == ["sign", "decline"]
            assert view["me"]["consent_text"]
            response = await sign(signer, png)
            assert response.status_code == 202, response.text
            assert response.json()["me"]["signature"] == "pending"
            assert response.json()["me"]["actions"] == []
            done = await wait_until_signed(signer)
            assert done["me"]["signature"] == "applied"
        for position, document_id in enumerate(documents):
            current = await _content(api, envelope["id"], document_id, "current")
            assert current.startswith(originals[position])
            await check_valid(
                current, test_pki, tmp_path, f"{index}-{position}.pdf", signatures=index + 1
            )

    finished = await api.get_envelope(envelope["id"])
    assert finished["status"] == "completed"
    for position, document_id in enumerate(documents):
        signed = await _content(api, envelope["id"], document_id)  # default: signed
        assert signed == await _content(api, envelope["id"], document_id, "signed")
        assert signed.startswith(originals[position])
        await check_valid(
            signed, test_pki, tmp_path, f"final-{position}.pdf", signatures=3, archived=True
        )
        kinds = [v.kind for v in await pyhanko_verdicts(signed, test_pki)]
        assert kinds[-1] == "timestamp"  # B-LTA: the archive timestamp comes last
    # A signer's link still opens the envelope: what they download now is the signed version.
    first = finished["recipients"][0]["id"]
    async with Recipient(base_url=base_url, timeout=30) as signer:
        opened = await signer.open(runtime.secrets.link_token(uuid.UUID(first)))
        assert opened.status_code == 201, opened.text
        for document_id in documents:
            copy = await signer.get(f"/v1/signing/documents/{document_id}/content")
            assert copy.content == await _content(api, envelope["id"], document_id, "signed")
    # Completion emails carry the signed PDFs: to every signer, and to the sender with the
    # evidence PDF too.
    signed_files = {
        name: await _content(api, envelope["id"], d, "signed")
        for name, d in zip(("contrat.pdf", "annexe.pdf"), documents, strict=True)
    }
    for _, _, email in SIGNERS:
        received = await mail.wait_for(email.replace("@", "+e2e@"), count=2, within=10)
        assert _attached(received[-1]) == signed_files
    to_sender = [m for m in await mail.wait_for("sender@example.com", within=10) if _attached(m)]
    evidence = await api.get(f"/v1/envelopes/{envelope['id']}/evidence")
    assert _attached(to_sender[-1]) == {
        **signed_files,
        f"evidence-{envelope['id']}.pdf": evidence.content,
    }


def _attached(message: EmailMessage) -> dict[str, bytes]:
    files = {}
    for part in message.iter_attachments():
        content = part.get_content()
        assert isinstance(content, bytes), part.get_content_type()
        files[part.get_filename() or ""] = content
    return files


async def test_evidence_pdf_is_sealed_and_carries_the_stored_hashes(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    envelope, documents, _ = await _ready_envelope(api, "evidence")
    not_yet = await api.get(f"/v1/envelopes/{envelope['id']}/evidence")
    assert not_yet.status_code == 409 and not_yet.json()["code"] == "evidence_not_ready"
    await send(api, envelope["id"])
    for _, _, email in SIGNERS:
        async with open_invitation(base_url, mail, email.replace("@", "+evidence@")) as signer:
            assert (await sign(signer, signature_png())).status_code == 202
            await wait_until_signed(signer)

    response = await api.get(f"/v1/envelopes/{envelope['id']}/evidence")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    evidence = response.content
    verdicts = await pyhanko_verdicts(evidence, test_pki)
    assert [v.kind for v in verdicts] == ["signature", "timestamp"], verdicts
    assert all(v.bottom_line for v in verdicts), verdicts
    await check_archived(evidence, test_pki)
    by_pdfsig = await asyncio.to_thread(
        pdfsig_verdicts, write(tmp_path, "evidence.pdf", evidence), test_pki.root_pem
    )
    sealed = [s for s in by_pdfsig if s.field != verdicts[-1].field]
    assert [(s.valid, s.certificate_trusted is not False) for s in sealed] == [(True, True)]

    text = _pdf_text(write(tmp_path, "evidence-text.pdf", evidence))
    events = (await api.get(f"/v1/envelopes/{envelope['id']}/events")).json()["data"]
    # Every event up to the completion is in the report, with the hash stored for it; the
    # emails sent after it are not (the sealing event is what records the report's hash).
    sealing = next(e for e in events if e["type"] == "evidence.sealed")
    assert sealing["data"]["sha256"] == response.headers["x-content-sha256"]
    before = [e for e in events if e["sequence"] < sealing["sequence"]]
    assert before[-1]["type"] == "envelope.completed"
    for event in before:
        assert event["hash"] in text, event["type"]
    stored = (await api.get_envelope(envelope["id"]))["documents"]
    assert {d["id"] for d in stored} == set(documents)
    for document in stored:
        assert document["sha256"] in text and document["signed_sha256"] in text
    assert "Zoë Müller" in text and "Łukasz Straße" in text


def _pdf_text(path: Path) -> str:
    """pdftotext, with line breaks removed so that wrapped hashes read as one word."""
    out = subprocess.run(
        ["pdftotext", "-raw", "-enc", "UTF-8", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.replace("\n", "").replace(" ", "") + "\n" + out


async def test_with_certification_every_signature_still_validates(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    test_pki: TestPki,
    runtime: Runtime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime.settings, "signing_certify", True)
    envelope = await api.envelope(kind="signature", name="Certifié")
    upload = await api.upload(envelope["id"], make_pdf(), filename="c.pdf")
    document_id = upload.json()["id"]
    for index in range(2):
        added = await api.add_recipient(envelope["id"], email=f"c{index}+certify@example.com")
        await put_stamp(api, envelope["id"], document_id, added["id"], x=40 + 250 * index)
    await send(api, envelope["id"])
    sent = await _content(api, envelope["id"], document_id, "current")
    certified = await pyhanko_verdicts(sent, test_pki)
    assert [(v.field, v.bottom_line) for v in certified] == [("CachetCertification", True)]

    for index in range(2):
        async with open_invitation(base_url, mail, f"c{index}+certify@example.com") as signer:
            assert (await sign(signer, signature_png())).status_code == 202
            await wait_until_signed(signer)
    signed = await _content(api, envelope["id"], document_id)
    verdicts = await pyhanko_verdicts(signed, test_pki)
    assert verdicts[0].field == "CachetCertification"
    assert [v.kind for v in verdicts] == ["signature", "signature", "signature", "timestamp"]
    await check_valid(signed, test_pki, tmp_path, "certified.pdf", signatures=3, archived=True)
