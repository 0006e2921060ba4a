"""The eIDAS simple ceremony through each real SMS adapter, against a server on 127.0.0.1 that
speaks its vendor's wire format (tests/providers/fakes.py): the code reaches the phone, a
number the vendor refuses is a clear 422, a vendor that fails is retried with the same code,
and delivery reports are believed only when the vendor signed them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from app.providers.sms import SmsProvider
from app.runtime import Runtime
from tests.providers.fakes import UNROUTABLE, FakeVendors, fake_vendors
from tests.providers.test_sms import adapter
from tests.support import ApiClient, make_pdf
from tests.support.polling import eventually
from tests.support.sinks import MailSink
from tests.workflow.eidas_support import CODE, grant_credits, sent_eidas_envelope, verify
from tests.workflow.signing_support import put_stamp, sign, signature_png, wait_until_signed
from tests.workflow.support import open_invitation, send

VENDORS = ["twilio", "brevo", "ovh"]


@pytest.fixture(params=VENDORS)
async def vendor(runtime: Runtime, request: pytest.FixtureRequest) -> AsyncIterator[FakeVendors]:
    """The running service sends its codes through this vendor's adapter for the test."""
    async with fake_vendors() as vendors:
        provider: SmsProvider = adapter(request.param, vendors)
        development = runtime.sms
        runtime.sms = provider
        try:
            yield vendors
        finally:
            runtime.sms = development
            await provider.aclose()


async def _code_sent(vendors: FakeVendors, number: str, count: int = 1) -> str:
    async def sent() -> list[str]:
        return vendors.texts_to(number)

    texts = await eventually(sent, lambda t: len(t) >= count, within=20, what="no SMS")
    found = CODE.search(texts[-1])
    assert found is not None
    return found.group(1)


async def _events(api: ApiClient, envelope_id: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (await api.get(f"/v1/envelopes/{envelope_id}/events")).json()[
        "data"
    ]
    return data


async def test_the_code_goes_through_the_vendor_and_the_signer_signs(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, vendor: FakeVendors
) -> None:
    tag = uuid.uuid4().hex[:8]
    envelope = await sent_eidas_envelope(api, runtime, tag, signers=1)
    number = envelope["recipients"][0]["phone"]
    async with open_invitation(base_url, mail, f"s0+{tag}@example.com") as signer:
        answer = await signer.post("/v1/signing/otp")
        assert answer.status_code == 202 and answer.json()["status"] == "sent", answer.text
        assert (await verify(signer, await _code_sent(vendor, number))).status_code == 200
        assert (await sign(signer, signature_png())).status_code == 202
        await wait_until_signed(signer)
    sent = next(e for e in await _events(api, envelope["id"]) if e["type"] == "otp.sent")
    assert sent["data"]["provider"] == runtime.sms.name
    assert sent["data"]["provider_message_id"] == vendor.sent[0].message_id


async def test_a_number_the_vendor_refuses_is_phone_unreachable(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, vendor: FakeVendors
) -> None:
    tag = uuid.uuid4().hex[:8]
    await grant_credits(api, runtime, "eidas_simple", 1)
    envelope = await api.envelope(kind="signature", level="eidas_simple", name=f"U {tag}")
    document = (await api.upload(envelope["id"], make_pdf())).json()["id"]
    signer_row = await api.add_recipient(
        envelope["id"], email=f"s0+{tag}@example.com", phone=UNROUTABLE
    )
    await put_stamp(api, envelope["id"], document, signer_row["id"])
    await send(api, envelope["id"])
    async with open_invitation(base_url, mail, f"s0+{tag}@example.com") as signer:
        refused = await signer.post("/v1/signing/otp")
        assert refused.status_code == 422 and refused.json()["code"] == "phone_unreachable"
        again = await signer.post("/v1/signing/otp")
        assert again.status_code == 422 and again.json()["code"] == "phone_unreachable"
        assert ("sms", "blocked") in [
            (s["step"], s["status"]) for s in (await signer.view())["me"]["steps"]
        ]
    told = [
        e for e in await _events(api, envelope["id"]) if e["type"] == "recipient.phone_unreachable"
    ]
    assert len(told) == 1 and told[0]["data"]["phone"].endswith("00")
    assert vendor.sent == []


async def test_a_failing_vendor_is_retried_with_the_same_code(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, vendor: FakeVendors
) -> None:
    tag = uuid.uuid4().hex[:8]
    envelope = await sent_eidas_envelope(api, runtime, tag, signers=1)
    number = envelope["recipients"][0]["phone"]
    vendor.script += [("status", 503), ("status", 429)]
    async with open_invitation(base_url, mail, f"s0+{tag}@example.com") as signer:
        # Sent once the vendor takes it (within the request's wait here: the test's retry
        # delays are short), else "queued" while the job goes on retrying.
        answer = await signer.post("/v1/signing/otp")
        assert answer.status_code == 202 and answer.json()["status"] in ("sent", "queued")
        code = await _code_sent(vendor, number)
        assert vendor.script == []  # both failures were met
        assert len(vendor.texts_to(number)) == 1  # sent once, when the vendor took it
        assert (await verify(signer, code)).status_code == 200


@pytest.mark.parametrize("vendor", ["twilio", "brevo"], indirect=True)
async def test_delivery_reports_are_believed_only_from_the_vendor(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, vendor: FakeVendors
) -> None:
    tag = uuid.uuid4().hex[:8]
    envelope = await sent_eidas_envelope(api, runtime, tag, signers=1)
    number = envelope["recipients"][0]["phone"]
    async with open_invitation(base_url, mail, f"s0+{tag}@example.com") as signer:
        assert (await signer.post("/v1/signing/otp")).status_code == 202
        await _code_sent(vendor, number)
    message = vendor.sent[0]
    assert message.status_url is not None
    report = _report(vendor, message.vendor, message, "delivered")
    async with httpx.AsyncClient(base_url=base_url) as client:
        forged = _report(vendor, message.vendor, message, "undelivered", forged=True)
        assert (await client.post(**forged)).status_code == 401
        for _ in range(2):  # a duplicate is harmless
            assert (await client.post(**report)).status_code == 204
        late = _report(vendor, message.vendor, message, "sent")  # out of order
        assert (await client.post(**late)).status_code == 204
    types = [e["type"] for e in await _events(api, envelope["id"])]
    assert types.count("otp.delivered") == 1 and "otp.undelivered" not in types


def _report(
    vendor: FakeVendors, name: str, message: Any, status: str, *, forged: bool = False
) -> dict[str, Any]:
    """What the vendor would post to the status URL it was given (its path and query on the
    test server)."""
    target = urlsplit(message.status_url)
    url = target.path + (f"?{target.query}" if target.query else "")
    if name == "twilio":
        token = "not-the-auth-token" if forged else "twilio-test-auth-token"
        form, headers = vendor.twilio_callback(message, status, token=token)
        return {"url": url, "data": form, "headers": headers}
    if forged:
        url = target.path + "?token=guessed"
    event = {"messageId": int(message.message_id), "msg_status": status}
    return {"url": url, "json": event}
