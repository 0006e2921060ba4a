"""eIDAS advanced, the identity step, through HTTP with the development identity provider: the
check opens after the SMS code, is decided on /dev/identity/…, and gates the signature; names
are compared; a mismatch waits for the sender's correction; attempts are counted; what the
evidence and the webhooks say. The real vendors' adapters: test_eidas_advanced_vendors.py."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.runtime import Runtime
from app.workflow.identity_flow import poll_open_sessions
from tests.support import ApiClient
from tests.support.polling import eventually
from tests.support.sinks import MailSink, webhook_receiver
from tests.workflow.eidas_support import newest_code, sent_eidas_envelope, verify
from tests.workflow.signing_support import sign, signature_png
from tests.workflow.support import Recipient, open_invitation
from tests.workflow.test_lifecycle import clock_moved

LEVEL = "eidas_advanced"


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _steps(view: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["step"], s["status"]) for s in view["me"]["steps"]]


async def _events(api: ApiClient, envelope_id: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (await api.get(f"/v1/envelopes/{envelope_id}/events")).json()[
        "data"
    ]
    return data


async def _code_verified(signer: Recipient, base_url: str, recipient_id: str) -> None:
    assert (await signer.post("/v1/signing/otp")).status_code == 202
    code = await newest_code(base_url, recipient_id)
    assert (await verify(signer, code)).status_code == 200


def _path(url: str) -> str:
    """The service's own URL, as the test reaches it (its settings name another port)."""
    return urlsplit(url).path


async def _complete(base_url: str, url: str, outcome: str, **names: str) -> httpx.Response:
    """What the development page's buttons do."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        return await client.post(f"{_path(url)}/complete", json={"outcome": outcome, **names})


@asynccontextmanager
async def _signer_past_sms(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, tag: str
) -> AsyncIterator[tuple[Recipient, dict[str, Any], dict[str, Any]]]:
    envelope = await sent_eidas_envelope(api, runtime, tag, signers=1, level=LEVEL)
    recipient = envelope["recipients"][0]
    async with open_invitation(base_url, mail, f"s0+{tag}@example.com") as signer:
        await _code_verified(signer, base_url, recipient["id"])
        yield signer, envelope, recipient


async def _start(signer: Recipient, status: int = 201) -> dict[str, Any]:
    response = await signer.post("/v1/signing/identity")
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_identity_comes_after_the_code_and_before_the_signature(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    tag = _tag()
    envelope = await sent_eidas_envelope(api, runtime, tag, signers=1, level=LEVEL)
    recipient = envelope["recipients"][0]
    async with open_invitation(base_url, mail, f"s0+{tag}@example.com") as signer:
        view = await signer.view()
        assert _steps(view) == [
            ("email", "done"),
            ("sms", "pending"),
            ("identity", "blocked"),
            ("sign", "blocked"),
        ]
        assert (await signer.get("/v1/signing/identity")).json()["status"] == "not_started"
        early = await signer.post("/v1/signing/identity")
        assert early.status_code == 403 and early.json()["code"] == "otp_required"

        await _code_verified(signer, base_url, recipient["id"])
        assert ("identity", "pending") in _steps(await signer.view())
        refused = await sign(signer, signature_png())
        assert refused.status_code == 403 and refused.json()["code"] == "identity_required"

        started = await _start(signer)
        assert started["status"] == "pending" and started["attempts_left"] == 2
        assert _path(started["verification_url"]).startswith("/dev/identity/dev_")
        again = await _start(signer, status=200)  # the open check again: no attempt spent
        assert again == started
        page = await signer.get(_path(started["verification_url"]))
        assert page.status_code == 200 and "Signataire0" in page.text

        done = await _complete(
            base_url,
            started["verification_url"],
            "approved",
            first_name="SIGNATAIRE0 Élise",
            last_name="MARTIN",
            document_type="PASSPORT",
            country="FR",
        )
        assert done.status_code == 200, done.text
        status = (await signer.get("/v1/signing/identity")).json()
        assert status == {
            "status": "approved",
            "reason": None,
            "attempts_left": 2,
            "verification_url": None,
            "provider": "dev",
        }
        assert _steps(await signer.view())[:3] == [
            ("email", "done"),
            ("sms", "done"),
            ("identity", "done"),
        ]
        repeat = await signer.post("/v1/signing/identity")
        assert repeat.status_code == 409 and repeat.json()["code"] == "identity_already_verified"

    events = await _events(api, envelope["id"])
    types = [e["type"] for e in events]
    assert types.index("otp.verified") < types.index("identity.started")
    assert types.index("identity.started") < types.index("identity.approved")
    approved = next(e for e in events if e["type"] == "identity.approved")
    assert approved["data"]["provider"] == "dev"
    assert approved["data"]["verified_first_name"] == "SIGNATAIRE0 Élise"
    assert approved["data"]["document_type"] == "PASSPORT"
    assert approved["data"]["issuing_country"] == "FR"
    assert approved["actor"]["kind"] == "system"  # the provider said so, not the signer


async def test_a_document_in_another_name_waits_for_the_senders_correction(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    tag = _tag()
    async with webhook_receiver() as receiver:
        endpoint = await api.post("/v1/webhook-endpoints", json={"url": receiver.url})
        receiver.secret = endpoint.json()["secret"]
        async with _signer_past_sms(api, base_url, mail, runtime, tag) as (signer, envelope, me):
            started = await _start(signer)
            await _complete(
                base_url,
                started["verification_url"],
                "approved",
                first_name="Paul",
                last_name="Martin",
            )
            status = (await signer.get("/v1/signing/identity")).json()
            assert (status["status"], status["reason"]) == ("declined", "identity_mismatch")
            blocked = await signer.post("/v1/signing/identity")
            assert blocked.status_code == 403 and blocked.json()["code"] == "identity_mismatch"
            refused = await sign(signer, signature_png())
            assert refused.status_code == 403 and refused.json()["code"] == "identity_required"
            await receiver.wait_until(lambda r: "recipient.identity_failed" in r.types())

            corrected = await api.patch(
                f"/v1/envelopes/{envelope['id']}/recipients/{me['id']}",
                json={"first_name": "Paul"},
            )
            assert corrected.status_code == 200, corrected.text
            assert corrected.json()["first_name"] == "Paul"
            invitations = await mail.wait_for(f"s0+{tag}@example.com", count=2)
            assert len(invitations) == 2  # re-invited, same link

            fresh = await _start(signer)
            assert fresh["attempts_left"] == 2  # the earlier check is set aside
            assert fresh["verification_url"] != started["verification_url"]
            await _complete(
                base_url,
                fresh["verification_url"],
                "approved",
                first_name="PAUL",
                last_name="MARTIN",
            )
            assert (await signer.get("/v1/signing/identity")).json()["status"] == "approved"
            await receiver.wait_until(lambda r: "recipient.identity_approved" in r.types())

    events = await _events(api, envelope["id"])
    declined = next(e for e in events if e["type"] == "identity.declined")
    assert declined["data"]["reason"] == "identity_mismatch"
    assert declined["data"]["verified_first_name"] == "Paul"
    correction = next(e for e in events if e["type"] == "recipient.corrected")
    assert correction["data"]["before"]["first_name"] == "Signataire0"
    assert correction["data"]["after"]["first_name"] == "Paul"
    assert correction["data"]["identity_checks_set_aside"] == 1


async def test_after_sending_only_names_can_be_corrected_before_acting(
    api: ApiClient, other_api: ApiClient, runtime: Runtime
) -> None:
    envelope = await sent_eidas_envelope(api, runtime, _tag(), signers=1, level=LEVEL)
    url = f"/v1/envelopes/{envelope['id']}/recipients/{envelope['recipients'][0]['id']}"
    phone = await api.patch(url, json={"phone": "+33699999999"})
    assert phone.status_code == 409 and phone.json()["code"] == "not_a_draft"
    cleared = await api.patch(url, json={"last_name": None})
    assert cleared.status_code == 422
    hidden = await other_api.patch(url, json={"first_name": "Eve"})
    assert hidden.status_code == 404
    events = [e["type"] for e in await _events(api, envelope["id"])]
    assert "recipient.corrected" not in events


async def test_declined_checks_count_against_the_attempts(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    async with _signer_past_sms(api, base_url, mail, runtime, _tag()) as (signer, _, _me):
        lefts = []
        for _ in range(3):
            started = await _start(signer)
            lefts.append(started["attempts_left"])
            await _complete(base_url, started["verification_url"], "declined", reason="blurry")
            status = (await signer.get("/v1/signing/identity")).json()
            assert (status["status"], status["reason"]) == ("declined", "blurry")
        assert lefts == [2, 1, 0]
        spent = await signer.post("/v1/signing/identity")
        assert spent.status_code == 403
        assert spent.json()["code"] == "identity_attempts_exhausted"


async def test_a_result_the_callback_never_brought_is_read_by_polling(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    async with _signer_past_sms(api, base_url, mail, runtime, _tag()) as (signer, envelope, _):
        started = await _start(signer)
        session_id = started["verification_url"].rsplit("/", 1)[1]
        # Decided at the provider, and nobody tells the service.
        await runtime.identity.complete(  # type: ignore[attr-defined]
            session_id, outcome="approved", first_name="Signataire0", last_name="Martin"
        )
        with clock_moved(runtime, timedelta(seconds=runtime.settings.idv_poll_seconds + 1)):
            await poll_open_sessions(runtime)

        async def identity_events() -> list[str]:
            return [e["type"] for e in await _events(api, envelope["id"])]

        await eventually(identity_events, lambda t: "identity.approved" in t, what="no approval")


async def test_asking_for_the_status_reads_the_provider_again(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    async with _signer_past_sms(api, base_url, mail, runtime, _tag()) as (signer, _, _me):
        started = await _start(signer)
        session_id = started["verification_url"].rsplit("/", 1)[1]
        await runtime.identity.complete(  # type: ignore[attr-defined]
            session_id, outcome="review", first_name="Signataire0", last_name="Martin"
        )
        with clock_moved(runtime, timedelta(seconds=6)):
            status = (await signer.get("/v1/signing/identity")).json()
        assert status["status"] == "review" and status["verification_url"] is not None


async def test_an_open_check_past_its_lifetime_expires(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    async with _signer_past_sms(api, base_url, mail, runtime, _tag()) as (signer, envelope, _):
        await _start(signer)
        hours = runtime.settings.idv_session_hours
        with clock_moved(runtime, timedelta(hours=hours, minutes=1)):
            await poll_open_sessions(runtime)
        status = (await signer.get("/v1/signing/identity")).json()
        assert (status["status"], status["reason"]) == ("expired", "session_timed_out")
        assert status["attempts_left"] == 2
    types = [e["type"] for e in await _events(api, envelope["id"])]
    assert "identity.expired" in types and "recipient.identity_failed" in types


async def test_identity_is_not_asked_below_eidas_advanced(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    tag = _tag()
    envelope = await sent_eidas_envelope(api, runtime, tag, signers=1)
    async with open_invitation(base_url, mail, f"s0+{tag}@example.com") as signer:
        await _code_verified(signer, base_url, envelope["recipients"][0]["id"])
        started = await signer.post("/v1/signing/identity")
        assert started.status_code == 409 and started.json()["code"] == "identity_not_needed"
        status = await signer.get("/v1/signing/identity")
        assert status.status_code == 409
        assert [s["step"] for s in (await signer.view())["me"]["steps"]] == ["email", "sms", "sign"]


async def test_the_development_page_is_refused_for_unknown_sessions(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.get("/dev/identity/dev_" + "0" * 32)).status_code == 404
        assert (await client.get("/dev/identity/..%2F..%2Fsecret-key")).status_code == 404
        missing = await client.post(
            "/dev/identity/dev_" + "0" * 32 + "/complete", json={"outcome": "approved"}
        )
        assert missing.status_code == 404
