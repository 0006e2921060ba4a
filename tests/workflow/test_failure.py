"""No envelope is ever stuck: a signing job that fails on every attempt for a reason of the
document's ends the envelope as `failed` (event, webhook, email to the sender, sessions ended);
every non-terminal status has a way out."""

from __future__ import annotations

import uuid
from typing import Any

from app.envelopes.models import EnvelopeStatus
from app.envelopes.states import ENDED_ENVELOPE, ENVELOPE_TRANSITIONS
from app.runtime import Runtime
from tests.support import ApiClient
from tests.support.polling import eventually
from tests.support.sinks import MailSink, text_of, webhook_receiver
from tests.workflow.signing_support import sent_signature_envelope, sign, signature_png
from tests.workflow.support import open_invitation


def test_every_status_but_a_terminal_one_has_a_way_to_a_terminal_one() -> None:
    for status in EnvelopeStatus:
        reachable, frontier = {status}, {status}
        while frontier:
            frontier = {t for s in frontier for t in ENVELOPE_TRANSITIONS[s]} - reachable
            reachable |= frontier
        assert status in ENDED_ENVELOPE or reachable & ENDED_ENVELOPE, status
    assert EnvelopeStatus.failed in ENVELOPE_TRANSITIONS[EnvelopeStatus.in_progress]


async def _corrupt_current_document(api: ApiClient, runtime: Runtime, envelope_id: str) -> None:
    """The stored version the job will sign becomes bytes no PDF reader accepts: a fault of
    the document's (on disk), not of any service."""
    document = (await api.get_envelope(envelope_id))["documents"][0]
    path = runtime.blobs.path_of(document["current_sha256"])
    path.unlink()
    path.write_bytes(b"%PDF-1.7\nthis is not a PDF any more\n%%EOF\n")


async def test_a_document_that_cannot_be_signed_fails_the_envelope(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    tag = uuid.uuid4().hex[:8]
    async with webhook_receiver() as receiver:
        endpoint = await api.post("/v1/webhook-endpoints", json={"url": receiver.url})
        receiver.secret = endpoint.json()["secret"]
        envelope = await sent_signature_envelope(api, f"fail{tag}")
        await _corrupt_current_document(api, runtime, envelope["id"])
        async with open_invitation(base_url, mail, f"s0+fail{tag}@example.com") as signer:
            assert (await sign(signer, signature_png())).status_code == 202

            async def state() -> dict[str, Any]:
                return await api.get_envelope(envelope["id"])

            failed = await eventually(state, lambda e: e["status"] == "failed", within=60)
            assert "could not be signed for signer 1" in failed["failure_reason"]
            assert [r["status"] for r in failed["recipients"]] == ["skipped", "skipped"]
            assert failed["problem"] is None
            # The signer's session ended with the envelope.
            view = await signer.get("/v1/signing/envelope")
            assert view.status_code == 410 and view.json()["code"] == "envelope_ended"
        await receiver.wait_until(lambda r: "envelope.failed" in r.types())
    events = (await api.get(f"/v1/envelopes/{envelope['id']}/events")).json()["data"]
    types = [e["type"] for e in events]
    failed_at = types.index("envelope.failed")
    assert types[failed_at - 1] == "recipient.signature_failed"
    assert "signature_failed" not in "".join(types[failed_at + 1 :])

    async def told() -> list[Any]:
        return [m for m in mail.to(envelope["sender"]["email"]) if tag in str(m["Subject"])]

    message = (await eventually(told, bool, within=20))[0]
    assert "pas pu être signée" in str(message["Subject"])  # the envelope's locale: French
    assert "could not be signed for signer 1" in text_of(message)
