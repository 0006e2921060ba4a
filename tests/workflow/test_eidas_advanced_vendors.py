"""The identity step through each real identity-verification adapter, against a server on
127.0.0.1 that speaks its vendor's wire format (tests/providers/idv_fakes.py): the signed
callback is only a trigger and the result is read back; a vendor's own name-mismatch decision,
review then final, callbacks that are forged, duplicated or out of order, a callback that never
comes, and a vendor that fails at the start."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest

from app.providers.identity import IdentityProvider
from app.runtime import Runtime
from app.workflow.identity_flow import poll_open_sessions
from tests.providers.idv_fakes import FakeIdv, adapter, fake_idv_vendors
from tests.support import ApiClient
from tests.support.polling import eventually
from tests.support.sinks import MailSink
from tests.workflow.eidas_support import newest_code, sent_eidas_envelope, verify
from tests.workflow.support import Recipient, open_invitation
from tests.workflow.test_lifecycle import clock_moved

VENDORS = ["veriff", "onfido"]


@pytest.fixture(params=VENDORS)
async def vendor(
    runtime: Runtime, base_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[FakeIdv]:
    """The running service checks identities through this vendor's adapter for the test; the
    vendor's callbacks reach the service's endpoint for them."""
    async with fake_idv_vendors() as fake:
        provider: IdentityProvider = adapter(request.param, fake)
        fake.callback_url = f"{base_url}/v1/providers/{request.param}/identity"
        development = runtime.identity
        runtime.identity = provider
        try:
            yield fake
        finally:
            runtime.identity = development
            await provider.aclose()


@asynccontextmanager
async def _signer_past_sms(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> AsyncIterator[tuple[Recipient, dict[str, Any]]]:
    """The one signer of a sent eidas_advanced envelope, in session, code verified: ready for
    the identity step; and the envelope."""
    tag = _tag()
    envelope = await sent_eidas_envelope(api, runtime, tag, signers=1, level="eidas_advanced")
    async with open_invitation(base_url, mail, f"s0+{tag}@example.com") as signer:
        await _past_sms(signer, base_url, envelope["recipients"][0]["id"])
        yield signer, envelope


async def _past_sms(signer: Recipient, base_url: str, recipient_id: str) -> None:
    assert (await signer.post("/v1/signing/otp")).status_code == 202
    assert (await verify(signer, await newest_code(base_url, recipient_id))).status_code == 200


async def _status(signer: Recipient) -> dict[str, Any]:
    body: dict[str, Any] = (await signer.get("/v1/signing/identity")).json()
    return body


async def _status_becomes(signer: Recipient, status: str) -> dict[str, Any]:
    async def current() -> dict[str, Any]:
        # Within the nudge interval the status is only read from the database: what the
        # callback's job wrote.
        return await _status(signer)

    return await eventually(current, lambda s: s["status"] == status, what=f"not {status}")


def _tag() -> str:
    return uuid.uuid4().hex[:8]


async def test_an_approved_check_reaches_the_service_through_the_signed_callback(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, vendor: FakeIdv
) -> None:
    async with _signer_past_sms(api, base_url, mail, runtime) as (signer, envelope):
        started = (await signer.post("/v1/signing/identity")).json()
        assert started["provider"] == runtime.identity.name
        created = vendor.created[-1]
        assert (created.first_name, created.last_name) == ("Signataire0", "Martin")
        assert started["verification_url"] == f"{vendor.base_url}/hosted/{created.session_id}"

        await vendor.complete(created.session_id, "approved")
        assert vendor.callbacks[-1].answered == 204
        approved = await _status_becomes(signer, "approved")
        assert approved["attempts_left"] == 2

        # A late `started` callback, and the same decision again: nothing changes.
        assert await vendor.send_callback(created.session_id, "started") == 204
        assert await vendor.send_callback(created.session_id) == 204
        assert (await _status(signer))["status"] == "approved"
    events = (await api.get(f"/v1/envelopes/{envelope['id']}/events")).json()["data"]
    decided = [e for e in events if e["type"] == "identity.approved"]
    assert len(decided) == 1
    assert decided[0]["data"]["provider_session_id"] == created.session_id
    assert decided[0]["data"]["document_type"] == "PASSPORT"
    assert "document_number" not in str(decided[0]["data"])


async def test_the_vendors_name_mismatch_is_identity_mismatch(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, vendor: FakeIdv
) -> None:
    async with _signer_past_sms(api, base_url, mail, runtime) as (signer, _):
        await signer.post("/v1/signing/identity")
        await vendor.complete(vendor.created[-1].session_id, "name_mismatch")
        declined = await _status_becomes(signer, "declined")
        assert declined["reason"] == "identity_mismatch"


async def test_an_approval_for_another_name_is_refused_by_the_service(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, vendor: FakeIdv
) -> None:
    async with _signer_past_sms(api, base_url, mail, runtime) as (signer, _):
        await signer.post("/v1/signing/identity")
        await vendor.complete(vendor.created[-1].session_id, "approved", first_name="Mallory")
        declined = await _status_becomes(signer, "declined")
        assert declined["reason"] == "identity_mismatch"


async def test_review_then_a_final_word(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, vendor: FakeIdv
) -> None:
    async with _signer_past_sms(api, base_url, mail, runtime) as (signer, _):
        await signer.post("/v1/signing/identity")
        session_id = vendor.created[-1].session_id
        await vendor.complete(session_id, "review")
        await _status_becomes(signer, "review")
        await vendor.complete(session_id, "approved")
        await _status_becomes(signer, "approved")


async def test_forged_callbacks_are_refused_and_change_nothing(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, vendor: FakeIdv
) -> None:
    async with _signer_past_sms(api, base_url, mail, runtime) as (signer, _):
        await signer.post("/v1/signing/identity")
        session_id = vendor.created[-1].session_id
        await vendor.complete(session_id, "approved", callback=False)
        assert await vendor.send_callback(session_id, bad_signature=True) == 401
        assert await vendor.send_callback(session_id, unsigned=True) == 401
        assert (await _status(signer))["status"] == "pending"
    other = "onfido" if runtime.identity.name == "veriff" else "veriff"
    not_ours = await api.post(f"/v1/providers/{other}/identity", content=b"{}")
    assert not_ours.status_code == 404


async def test_a_callback_that_never_comes_is_covered_by_polling(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, vendor: FakeIdv
) -> None:
    async with _signer_past_sms(api, base_url, mail, runtime) as (signer, _):
        await signer.post("/v1/signing/identity")
        await vendor.complete(vendor.created[-1].session_id, "approved", callback=False)
        with clock_moved(runtime, timedelta(seconds=runtime.settings.idv_poll_seconds + 1)):
            await poll_open_sessions(runtime)
        await _status_becomes(signer, "approved")


async def test_a_vendor_down_at_the_start_spends_no_attempt(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, vendor: FakeIdv
) -> None:
    async with _signer_past_sms(api, base_url, mail, runtime) as (signer, _):
        vendor.script.append(("status", 429))
        busy = await signer.post("/v1/signing/identity")
        assert busy.status_code == 503, busy.text
        assert busy.json()["code"] == "identity_provider_unavailable"
        assert int(busy.headers["Retry-After"]) > 0
        vendor.script.append(("status", 500))
        assert (await signer.post("/v1/signing/identity")).status_code == 503
        vendor.script.append(("slow", 7.0))  # the adapter's timeout is 5 s
        assert (await signer.post("/v1/signing/identity")).status_code == 503
        assert (await _status(signer))["attempts_left"] == 3
        started = await signer.post("/v1/signing/identity")
        assert started.status_code == 201 and started.json()["attempts_left"] == 2
