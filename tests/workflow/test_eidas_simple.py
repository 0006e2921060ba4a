"""eIDAS simple, through HTTP with the development SMS provider: the link proves the email,
the SMS code proves the phone, then the signer signs; the code's rules (NIST SP 800-63B,
quality.md R9); what the evidence keeps. The real providers' adapters: test_sms_providers.py."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from app.runtime import Runtime
from tests.signing.ades import offline_hard_fail_verdicts
from tests.signing.test_evidence_pdf import pdf_text, squeezed, write
from tests.signing.testpki import TestPki
from tests.support import ApiClient
from tests.support.sinks import MailSink, webhook_receiver
from tests.workflow.eidas_support import (
    newest_code,
    sent_eidas_envelope,
    texts_to,
    verify,
    wrong,
)
from tests.workflow.signing_support import check_valid, sign, signature_png, wait_until_signed
from tests.workflow.support import Recipient, open_invitation
from tests.workflow.test_lifecycle import clock_moved


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _steps(view: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["step"], s["status"]) for s in view["me"]["steps"]]


async def _ask_code(signer: Recipient) -> dict[str, Any]:
    response = await signer.post("/v1/signing/otp")
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def _signed_document(api: ApiClient, envelope_id: str) -> bytes:
    document = (await api.get_envelope(envelope_id))["documents"][0]
    url = f"/v1/envelopes/{envelope_id}/documents/{document['id']}/content"
    return bytes((await api.get(url)).content)


async def test_the_whole_ceremony(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    runtime: Runtime,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    tag = _tag()
    envelope = await sent_eidas_envelope(api, runtime, tag, signers=2)
    first, second = envelope["recipients"]
    for index, recipient in enumerate(envelope["recipients"]):
        async with open_invitation(base_url, mail, f"s{index}+{tag}@example.com") as signer:
            view = await signer.view()
            assert _steps(view) == [("email", "done"), ("sms", "pending"), ("sign", "blocked")]
            assert view["me"]["phone_hint"].startswith("+33 6 •• •• ••")
            # Skipping the code: no signature.
            skipped = await sign(signer, signature_png())
            assert skipped.status_code == 403 and skipped.json()["code"] == "otp_required"

            sent = await _ask_code(signer)
            assert sent["phone_hint"] == view["me"]["phone_hint"]
            assert sent["resend_after_seconds"] == 30 and sent["status"] == "sent"
            code = await newest_code(base_url, recipient["id"])
            wrong_answer = await verify(signer, wrong(code))
            assert wrong_answer.status_code == 422
            assert wrong_answer.json()["code"] == "otp_invalid"
            assert wrong_answer.json()["attempts_left"] == 4
            right = await verify(signer, code)
            assert right.status_code == 200 and right.json() == {"verified": True}
            view = await signer.view()
            assert _steps(view) == [("email", "done"), ("sms", "done"), ("sign", "pending")]

            assert (await sign(signer, signature_png())).status_code == 202
            await wait_until_signed(signer)
        if index == 0:
            # B-LT at once: the first signature carries its revocation data already.
            current = await _signed_document(api, envelope["id"])
            verdicts = await offline_hard_fail_verdicts(current, [test_pki.root])
            assert verdicts == [True], verdicts
    final = await api.get_envelope(envelope["id"])
    assert final["status"] == "completed"
    signed = await _signed_document(api, envelope["id"])
    await check_valid(signed, test_pki, tmp_path, "eidas.pdf", signatures=2, archived=True)
    await _check_evidence(api, envelope["id"], [first["id"], second["id"]])
    evidence = (await api.get(f"/v1/envelopes/{envelope['id']}/evidence")).content
    text = squeezed(pdf_text(write(evidence, tmp_path, "evidence.pdf")))
    # Each signer's steps, with their times: the link opened, the code sent and verified.
    assert text.count(squeezed("code SMS envoyé au +33 6 •• •• ••")) == 2
    assert text.count(squeezed("lien ouvert le")) >= 2


async def _check_evidence(api: ApiClient, envelope_id: str, signers: list[str]) -> None:
    events = (await api.get(f"/v1/envelopes/{envelope_id}/events")).json()["data"]
    for signer in signers:
        mine = [e for e in events if e["data"].get("recipient_id") == signer]
        types = [e["type"] for e in mine]
        assert (
            types.index("otp.sent") < types.index("otp.verified") < types.index("recipient.signed")
        )
        sent = next(e for e in mine if e["type"] == "otp.sent")
        assert sent["data"]["provider"] == "dev" and sent["data"]["provider_message_id"]
        assert sent["data"]["phone"].startswith("+33 6 ••")
        assert "otp.failed" in types
        signed = next(e for e in mine if e["type"] == "recipient.signed")
        assert signed["data"]["method"] == "email_link+sms_otp"
    assert [e["type"] for e in events].count("credits.consumed") == len(signers)


async def test_a_code_works_once_for_five_minutes_and_a_new_one_replaces_it(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    tag = _tag()
    envelope = await sent_eidas_envelope(api, runtime, tag, signers=1)
    recipient = envelope["recipients"][0]
    async with open_invitation(base_url, mail, f"s0+{tag}@example.com") as signer:
        await _ask_code(signer)
        first = await newest_code(base_url, recipient["id"])
        with clock_moved(runtime, timedelta(seconds=31)):
            await _ask_code(signer)  # a resend: the first code is dead
            second = await newest_code(base_url, recipient["id"], count=2)
            assert first != second
            replaced = await verify(signer, first)  # only the newest code works
            assert replaced.status_code == 422 and replaced.json()["code"] == "otp_invalid"
        with clock_moved(runtime, timedelta(seconds=31 + 5 * 60)):
            expired = await verify(signer, second)
            assert expired.status_code == 422 and expired.json()["code"] == "otp_expired"
        with clock_moved(runtime, timedelta(seconds=62)):
            await _ask_code(signer)
            third = await newest_code(base_url, recipient["id"], count=3)
            assert (await verify(signer, third)).status_code == 200
            reused = await verify(signer, third)
            assert reused.status_code == 422 and reused.json()["code"] == "otp_used"


async def test_sends_are_limited(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    """One send per 30 s, three per 15 minutes; the provider gets exactly those."""
    tag = _tag()
    envelope = await sent_eidas_envelope(api, runtime, tag, signers=1)
    recipient = envelope["recipients"][0]
    async with open_invitation(base_url, mail, f"s0+{tag}@example.com") as signer:
        await _ask_code(signer)
        too_soon = await signer.post("/v1/signing/otp")
        assert too_soon.status_code == 429 and too_soon.json()["code"] == "otp_rate_limited"
        assert 1 <= int(too_soon.headers["Retry-After"]) <= 30
        for minutes in (1, 2):
            with clock_moved(runtime, timedelta(minutes=minutes)):
                await _ask_code(signer)
        with clock_moved(runtime, timedelta(minutes=3)):
            fourth = await signer.post("/v1/signing/otp")
            assert fourth.status_code == 429
            assert 11 * 60 <= int(fourth.headers["Retry-After"]) <= 12 * 60
        with clock_moved(runtime, timedelta(minutes=15, seconds=1)):
            await _ask_code(signer)
    assert len(await texts_to(base_url, recipient["id"])) == 4


async def test_five_tries_per_code_and_ten_failures_lock_until_the_sender_reminds(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    tag = _tag()
    async with webhook_receiver() as receiver:
        endpoint = await api.post("/v1/webhook-endpoints", json={"url": receiver.url})
        receiver.secret = endpoint.json()["secret"]
        envelope = await sent_eidas_envelope(api, runtime, tag, signers=1)
        recipient = envelope["recipients"][0]
        async with open_invitation(base_url, mail, f"s0+{tag}@example.com") as signer:
            await _ask_code(signer)
            code = await newest_code(base_url, recipient["id"])
            lefts = [(await verify(signer, wrong(code))).json()["attempts_left"] for _ in range(5)]
            assert lefts == [4, 3, 2, 1, 0]
            spent = await verify(signer, code)  # the right code, too late for this one
            assert spent.status_code == 422
            with clock_moved(runtime, timedelta(minutes=1)):
                await _ask_code(signer)
                code = await newest_code(base_url, recipient["id"], count=2)
                for _ in range(4):
                    assert (await verify(signer, wrong(code))).status_code == 422
                locking = await verify(signer, wrong(code))  # the 10th wrong code in a row
                assert locking.status_code == 423 and locking.json()["code"] == "otp_locked"
                locked = await verify(signer, code)
                assert locked.status_code == 423  # even the right one
                assert (await signer.post("/v1/signing/otp")).status_code == 423
                view = await signer.view()
                assert ("sms", "blocked") in _steps(view)
            await receiver.wait_until(lambda r: "recipient.otp_locked" in r.types())
            reminded = await api.post(f"/v1/envelopes/{envelope['id']}/remind")
            assert reminded.status_code == 202
            with clock_moved(runtime, timedelta(minutes=2)):
                await _ask_code(signer)
                code = await newest_code(base_url, recipient["id"], count=3)
                assert (await verify(signer, code)).status_code == 200
    events = [
        e["type"] for e in (await api.get(f"/v1/envelopes/{envelope['id']}/events")).json()["data"]
    ]
    assert events.count("otp.failed") == 10
    assert events.index("otp.locked") < events.index("otp.unlocked") < events.index("otp.verified")


async def test_the_verification_belongs_to_its_session_and_lasts_ten_minutes(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    tag = _tag()
    envelope = await sent_eidas_envelope(api, runtime, tag, signers=1)
    recipient = envelope["recipients"][0]
    token = runtime.secrets.link_token(uuid.UUID(recipient["id"]))
    async with open_invitation(base_url, mail, f"s0+{tag}@example.com") as signer:
        await _ask_code(signer)
        assert (await verify(signer, await newest_code(base_url, recipient["id"]))).status_code
        async with Recipient(base_url=base_url, timeout=30) as other_tab:
            assert (await other_tab.open(token)).status_code == 201
            refused = await sign(other_tab, signature_png())
            assert refused.status_code == 403 and refused.json()["code"] == "otp_required"
        with clock_moved(runtime, timedelta(minutes=10, seconds=1)):
            stale = await sign(signer, signature_png())
            assert stale.status_code == 403 and stale.json()["code"] == "otp_required"
        assert (await sign(signer, signature_png())).status_code == 202


async def test_no_code_is_kept_in_clear(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    tag = _tag()
    envelope = await sent_eidas_envelope(api, runtime, tag, signers=1)
    recipient = envelope["recipients"][0]
    async with open_invitation(base_url, mail, f"s0+{tag}@example.com") as signer:
        await _ask_code(signer)
        code = await newest_code(base_url, recipient["id"])
    async with runtime.engine.connect() as connection:
        for table in ("otp_codes", "events", "pgqueuer", "pgqueuer_log"):
            rows = await connection.execute(text(f"SELECT t::text FROM {table} AS t"))
            assert not [r for r in rows if code in r[0]], table
