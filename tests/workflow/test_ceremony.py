"""POST /v1/signing/sign refusals: each is a clear problem and leaves the documents unchanged."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select

from app.runtime import Runtime
from app.workflow.models import SignatureRequest
from tests.signing.testpki import TestPki
from tests.support import ApiClient
from tests.support.sinks import MailSink
from tests.workflow.signing_support import (
    b64,
    check_valid,
    sent_signature_envelope,
    sign,
    signature_png,
    wait_until_signed,
)
from tests.workflow.support import Recipient, open_invitation, send


async def _versions(api: ApiClient, envelope_id: str) -> list[str | None]:
    return [d["current_sha256"] for d in (await api.get_envelope(envelope_id))["documents"]]


async def _requests(runtime: Runtime, envelope_id: str) -> int:
    async with runtime.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(SignatureRequest)
            .where(SignatureRequest.envelope_id == envelope_id)
        )
    return int(count or 0)


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, format="PNG")
    return out.getvalue()


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (100, 40), "white").save(out, format="JPEG")
    return out.getvalue()


async def test_send_adds_one_empty_field_per_signer_and_keeps_the_original(
    api: ApiClient, runtime: Runtime
) -> None:
    envelope = await sent_signature_envelope(api, "fields", signers=2)
    document = envelope["documents"][0]
    assert document["current_sha256"] not in (None, document["sha256"])
    original = runtime.blobs.path_of(document["sha256"]).read_bytes()
    current = runtime.blobs.path_of(document["current_sha256"]).read_bytes()
    assert current.startswith(original)
    assert current.count(b"/FT /Sig") + current.count(b"/FT/Sig") == 2


async def test_bad_images_and_missing_consent_are_refused_and_store_nothing(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    envelope = await sent_signature_envelope(api, "images")
    before = await _versions(api, envelope["id"])
    async with open_invitation(base_url, mail, "s0+images@example.com") as signer:
        cases = {
            "not base64 !": "invalid_signature_image",
            b64(b"%PDF-1.7 not an image"): "invalid_signature_image",
            b64(_jpeg()): "invalid_signature_image",
            b64(_png(8, 8)): "invalid_signature_image",
            b64(_png(2400, 100)): "invalid_signature_image",
            b64(signature_png()[:200]): "invalid_signature_image",
            b64(b"\x89PNG" + b"\0" * (600 * 1024)): "invalid_signature_image",
        }
        for image, code in cases.items():
            response = await signer.post(
                "/v1/signing/sign", json={"consent": True, "signature_image": image}
            )
            assert response.status_code == 422, (image[:40], response.text)
            assert response.json()["code"] == code
            assert response.headers["content-type"] == "application/problem+json"
        refused = await sign(signer, signature_png(), consent=False)
        assert refused.status_code == 422 and refused.json()["code"] == "consent_required"
        assert (await signer.view())["me"]["actions"] == ["sign", "decline"]
    assert await _requests(runtime, envelope["id"]) == 0
    assert await _versions(api, envelope["id"]) == before


async def test_out_of_turn_twice_and_after_the_end_are_refused(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    runtime: Runtime,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    envelope = await sent_signature_envelope(api, "turns")
    # Every link is live from send on; the second signer's email comes later.
    token_of_second = runtime.secrets.link_token(uuid.UUID(envelope["recipients"][1]["id"]))
    async with Recipient(base_url=base_url, timeout=30) as second:
        assert (await second.open(token_of_second)).status_code == 201
        early = await sign(second, signature_png())
        assert early.status_code == 409 and early.json()["code"] == "not_your_turn"

        async with open_invitation(base_url, mail, "s0+turns@example.com") as first:
            assert (await sign(first, signature_png())).status_code == 202
            again = await sign(first, signature_png())
            assert again.status_code == 409
            assert again.json()["code"] in ("signature_in_progress", "already_acted")
            declined = await first.decline("changed my mind")
            assert declined.status_code == 409
            assert declined.json()["code"] in ("signature_in_progress", "already_acted")
            await wait_until_signed(first)
            document = (await api.get_envelope(envelope["id"]))["documents"][0]
            signed = runtime.blobs.path_of(document["current_sha256"]).read_bytes()
            await check_valid(signed, test_pki, tmp_path, "first.pdf", signatures=1)
            after = await sign(first, signature_png())
            assert after.status_code == 409 and after.json()["code"] == "already_acted"
        assert await _requests(runtime, envelope["id"]) == 1

        canceled = await api.post(f"/v1/envelopes/{envelope['id']}/cancel", json={"reason": "x"})
        assert canceled.status_code == 200, canceled.text
        before = await _versions(api, envelope["id"])
        ended = await sign(second, signature_png())
        assert ended.status_code == 410 and ended.json()["code"] == "envelope_ended"
    assert await _versions(api, envelope["id"]) == before
    assert await _requests(runtime, envelope["id"]) == 1


async def test_the_wrong_action_for_the_kind_is_refused(
    api: ApiClient, base_url: str, mail: MailSink
) -> None:
    await sent_signature_envelope(api, "kind", signers=1)
    async with open_invitation(base_url, mail, "s0+kind@example.com") as signer:
        approved = await signer.approve()
        assert approved.status_code == 409 and approved.json()["code"] == "wrong_action"

    approval = await api.envelope(kind="approval")
    await api.upload(approval["id"], b"text", filename="a.txt")
    await api.add_recipient(approval["id"], email="approver+kind@example.com")
    await send(api, approval["id"])
    async with open_invitation(base_url, mail, "approver+kind@example.com") as approver:
        signed = await sign(approver, signature_png())
        assert signed.status_code == 409 and signed.json()["code"] == "wrong_action"
