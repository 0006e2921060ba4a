"""Each identity adapter against a server on 127.0.0.1 that speaks its vendor's wire format
(tests/providers/idv_fakes.py): what the vendor receives at creation, each outcome read back,
signed callbacks (good, bad, missing, duplicate, out of order), the vendor's throttling, errors
and silence, and refused credentials. Then the development provider and the factory."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.config import Settings
from app.providers.dev_identity import DevIdentity
from app.providers.identity import (
    BadCallback,
    CallbackRequest,
    IdentityProvider,
    IdentityRefused,
    IdentityRequest,
    IdentityStatus,
    IdentityUnavailable,
    StartedVerification,
)
from app.providers.identity_factory import (
    build_identity_provider,
    missing_idv_settings,
    require_idv_settings,
)
from app.providers.onfido import OnfidoIdentity
from app.providers.veriff import VeriffIdentity
from tests.providers.idv_fakes import (
    ONFIDO_TOKEN,
    ONFIDO_WEBHOOK_TOKEN,
    ONFIDO_WORKFLOW,
    VERIFF_KEY,
    VERIFF_SECRET,
    FakeIdv,
    adapter,
    fake_idv_vendors,
    idv_settings,
)
from tests.support.cli import free_port

VENDORS = ["veriff", "onfido"]
REQUEST = IdentityRequest(
    reference="idv-ref-1",
    first_name="Marie Claire",
    last_name="Dupont",
    email="marie@example.test",
    locale="fr",
    return_url="https://cachet.example/sign/abc/identity/done",
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeIdv]:
    async with fake_idv_vendors() as running:
        yield running


@asynccontextmanager
async def opened(provider: IdentityProvider) -> AsyncIterator[IdentityProvider]:
    try:
        yield provider
    finally:
        await provider.aclose()


async def started(vendor: str, fake: FakeIdv) -> tuple[IdentityProvider, StartedVerification]:
    provider = adapter(vendor, fake)
    return provider, await provider.start(REQUEST)


# --- creation ------------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_session_carries_the_declared_names_and_our_reference(
    fake: FakeIdv, vendor: str
) -> None:
    async with opened(adapter(vendor, fake)) as provider:
        session = await provider.start(REQUEST)
    [created] = fake.created
    assert (created.vendor, created.session_id) == (vendor, session.session_id)
    assert (created.first_name, created.last_name) == ("Marie Claire", "Dupont")
    assert (created.reference, created.return_url) == ("idv-ref-1", REQUEST.return_url)
    assert session.provider == vendor
    assert session.verification_url == f"{fake.base_url}/hosted/{session.session_id}"
    async with httpx.AsyncClient(trust_env=False) as client:
        page = await client.get(session.verification_url)
    assert "Marie Claire Dupont" in page.text


async def test_onfido_gets_the_email_and_the_persons_language(fake: FakeIdv) -> None:
    async with opened(adapter("onfido", fake)) as provider:
        await provider.start(REQUEST)
        await provider.start(replace(REQUEST, locale="en", email=None, return_url=None))
    french, english = fake.created
    assert (french.email, french.language) == ("marie@example.test", "fr_FR")
    assert (english.email, english.language, english.return_url) == (None, "en_US", None)


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_new_session_is_pending(fake: FakeIdv, vendor: str) -> None:
    provider, session = await started(vendor, fake)
    async with opened(provider):
        result = await provider.result(session.session_id)
    assert result.status is IdentityStatus.pending
    assert result.identity is None


# --- outcomes --------------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS)
async def test_an_approved_session_gives_the_documents_identity(fake: FakeIdv, vendor: str) -> None:
    provider, session = await started(vendor, fake)
    async with opened(provider):
        await fake.complete(session.session_id, "approved", document_type="ID_CARD", country="FR")
        result = await provider.result(session.session_id)
    assert (result.status, result.vendor_status, result.reason) == (
        IdentityStatus.approved,
        "approved",
        None,
    )
    assert result.identity is not None
    assert (result.identity.first_name, result.identity.last_name) == ("Marie Claire", "Dupont")
    assert (result.identity.document_type, result.identity.issuing_country) == ("ID_CARD", "FR")


@pytest.mark.parametrize("vendor", VENDORS)
async def test_approved_names_that_differ_are_given_as_read(fake: FakeIdv, vendor: str) -> None:
    """The vendor approves the document; comparing its names is the service's job."""
    provider, session = await started(vendor, fake)
    async with opened(provider):
        await fake.complete(session.session_id, "approved", first_name="Jean", last_name="Martin")
        result = await provider.result(session.session_id)
    assert result.status is IdentityStatus.approved
    assert result.identity is not None
    assert (result.identity.first_name, result.identity.last_name) == ("Jean", "Martin")


@pytest.mark.parametrize(
    ("vendor", "reason"),
    [("veriff", "102: Suspected document tampering."), ("onfido", "document_tampering")],
)
async def test_a_declined_session_keeps_the_vendors_reason(
    fake: FakeIdv, vendor: str, reason: str
) -> None:
    provider, session = await started(vendor, fake)
    async with opened(provider):
        await fake.complete(session.session_id, "declined")
        result = await provider.result(session.session_id)
    assert (result.status, result.vendor_status, result.reason) == (
        IdentityStatus.declined,
        "declined",
        reason,
    )


@pytest.mark.parametrize(
    ("vendor", "reason_code"),
    [
        ("veriff", None),  # 104
        ("onfido", None),  # "name_mismatch"
        ("onfido", "Data comparison: first_name"),
        ("onfido", "document-name-mismatch"),
    ],
)
async def test_the_vendors_name_mismatch_is_named_so(
    fake: FakeIdv, vendor: str, reason_code: str | None
) -> None:
    provider, session = await started(vendor, fake)
    async with opened(provider):
        await fake.complete(session.session_id, "name_mismatch", reason_code=reason_code)
        result = await provider.result(session.session_id)
    assert (result.status, result.reason) == (IdentityStatus.declined, "name_mismatch")


async def test_veriff_104_given_as_text_is_a_name_mismatch_too(fake: FakeIdv) -> None:
    provider, session = await started("veriff", fake)
    async with opened(provider):
        await fake.complete(session.session_id, "declined", reason_code="104")
        result = await provider.result(session.session_id)
    assert result.reason == "name_mismatch"


@pytest.mark.parametrize("vendor", VENDORS)
async def test_review_is_followed_by_the_final_word(fake: FakeIdv, vendor: str) -> None:
    provider, session = await started(vendor, fake)
    async with opened(provider):
        await fake.complete(session.session_id, "review")
        assert (await provider.result(session.session_id)).status is IdentityStatus.review
        await fake.complete(session.session_id, "declined")
        assert (await provider.result(session.session_id)).status is IdentityStatus.declined


@pytest.mark.parametrize(
    ("vendor", "outcome", "vendor_status", "reason"),
    [
        ("veriff", "expired", "expired", None),
        ("veriff", "abandoned", "abandoned", None),
        ("onfido", "expired", "abandoned", None),
        ("onfido", "error", "error", "provider_error"),
    ],
)
async def test_sessions_that_came_to_nothing_are_expired(
    fake: FakeIdv, vendor: str, outcome: str, vendor_status: str, reason: str | None
) -> None:
    provider, session = await started(vendor, fake)
    async with opened(provider):
        await fake.complete(session.session_id, outcome)
        result = await provider.result(session.session_id)
    assert (result.status, result.vendor_status, result.reason) == (
        IdentityStatus.expired,
        vendor_status,
        reason,
    )


@pytest.mark.parametrize(
    ("vendor", "word"),
    [
        ("veriff", "started"),  # no decision yet: `verification` is null
        ("veriff", "resubmission_requested"),
        ("onfido", "processing"),
        ("onfido", "awaiting_client_input"),
    ],
)
async def test_a_person_still_at_it_is_pending(fake: FakeIdv, vendor: str, word: str) -> None:
    provider, session = await started(vendor, fake)
    async with opened(provider):
        await fake.complete(session.session_id, word)
        result = await provider.result(session.session_id)
    assert result.status is IdentityStatus.pending
    assert result.reason is None


# --- callbacks -------------------------------------------------------------------------------


@asynccontextmanager
async def callback_receiver() -> AsyncIterator[tuple[str, list[CallbackRequest]]]:
    """A URL on 127.0.0.1 that keeps what is posted to it, as the service's endpoint would."""
    received: list[CallbackRequest] = []

    async def keep(request: Request) -> Response:
        received.append(
            CallbackRequest(str(request.url), dict(request.headers), await request.body())
        )
        return Response(status_code=204)

    port = free_port()
    app = Starlette(routes=[Route("/idv-callback", keep, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no start event)
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/idv-callback", received
    finally:
        server.should_exit = True
        await task


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_signed_callback_names_its_session_again_and_again(
    fake: FakeIdv, vendor: str
) -> None:
    provider, session = await started(vendor, fake)
    async with opened(provider), callback_receiver() as (url, received):
        fake.callback_url = url
        await fake.complete(session.session_id, "approved")
        assert await fake.send_callback(session.session_id) == 204  # a duplicate
        assert [provider.callback_sessions(r) for r in received] == [[session.session_id]] * 2
        assert (await provider.result(session.session_id)).status is IdentityStatus.approved


@pytest.mark.parametrize(("vendor", "named"), [("veriff", True), ("onfido", False)])
async def test_a_late_started_callback_does_not_undo_the_decision(
    fake: FakeIdv, vendor: str, named: bool
) -> None:
    """Veriff's `started` event names the session (read again: still approved); Onfido's task
    events name no run."""
    provider, session = await started(vendor, fake)
    async with opened(provider), callback_receiver() as (url, received):
        fake.callback_url = url
        await fake.complete(session.session_id, "approved", callback=False)
        await fake.send_callback(session.session_id, "started")
        [late] = received
        assert provider.callback_sessions(late) == ([session.session_id] if named else [])
        assert (await provider.result(session.session_id)).status is IdentityStatus.approved


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("flaw", ["bad_signature", "unsigned", "altered"])
async def test_a_callback_not_signed_by_the_vendor_is_refused(
    fake: FakeIdv, vendor: str, flaw: str
) -> None:
    provider, session = await started(vendor, fake)
    async with opened(provider), callback_receiver() as (url, received):
        fake.callback_url = url
        await fake.complete(session.session_id, "approved", callback=False)
        await fake.send_callback(
            session.session_id, bad_signature=flaw == "bad_signature", unsigned=flaw == "unsigned"
        )
        [request] = received
        if flaw == "altered":  # signed, then changed on the way
            request = replace(request, body=request.body.replace(b"approved", b"declined"))
        with pytest.raises(BadCallback):
            provider.callback_sessions(request)


@pytest.mark.parametrize("vendor", VENDORS)
async def test_the_person_finishing_on_the_hosted_page_is_sent_back(
    fake: FakeIdv, vendor: str
) -> None:
    provider, session = await started(vendor, fake)
    async with opened(provider), callback_receiver() as (url, received):
        fake.callback_url = url
        async with httpx.AsyncClient(trust_env=False) as browser:
            finish = await browser.post(session.verification_url, data={"outcome": "review"})
        assert (finish.status_code, finish.headers["location"]) == (303, REQUEST.return_url)
        [callback] = received
        assert provider.callback_sessions(callback) == [session.session_id]
        assert (await provider.result(session.session_id)).status is IdentityStatus.review


async def test_veriff_callbacks_come_with_this_integrations_key(fake: FakeIdv) -> None:
    provider, session = await started("veriff", fake)
    async with opened(provider):
        await fake.complete(session.session_id, "approved", callback=False)
        request = fake.signed_callback(session.session_id)
        assert provider.callback_sessions(request) == [session.session_id]
        other_key = {**request.headers, "x-auth-client": "another-integration"}
        with pytest.raises(BadCallback, match="X-AUTH-CLIENT"):
            provider.callback_sessions(replace(request, headers=other_key))


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"hello": "world"}',
        b'{"verification": {"status": "approved"}}',
        b'{"payload": {"resource_type": "workflow_run", "object": {}}}',
    ],
)
async def test_a_signed_body_that_is_no_webhook_is_refused(
    fake: FakeIdv, vendor: str, body: bytes
) -> None:
    async with opened(adapter(vendor, fake)) as provider:
        with pytest.raises(BadCallback):
            provider.callback_sessions(_signed(vendor, body))


async def test_onfido_webhooks_about_other_resources_name_no_run(fake: FakeIdv) -> None:
    body = {"payload": {"resource_type": "check", "action": "check.completed", "object": {}}}
    async with opened(adapter("onfido", fake)) as provider:
        assert provider.callback_sessions(_signed("onfido", json.dumps(body).encode())) == []


def _signed(vendor: str, body: bytes) -> CallbackRequest:
    """Signed as the vendor would, independently of the fake and of the adapters."""
    if vendor == "veriff":
        digest = hmac.new(VERIFF_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"x-auth-client": VERIFF_KEY, "x-hmac-signature": digest}
    else:
        digest = hmac.new(ONFIDO_WEBHOOK_TOKEN.encode(), body, hashlib.sha256).hexdigest()
        headers = {"x-sha2-signature": digest}
    return CallbackRequest("http://127.0.0.1/idv-callback", headers, body)


# --- the vendor's troubles -------------------------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("status", [429, 500, 503])
async def test_throttling_and_vendor_errors_are_for_later(
    fake: FakeIdv, vendor: str, status: int
) -> None:
    async with opened(adapter(vendor, fake)) as provider:
        fake.script.append(("status", status))
        with pytest.raises(IdentityUnavailable, match=f"answered {status}") as raised:
            await provider.start(REQUEST)
        session = await provider.start(REQUEST)  # the next one goes
        fake.script.append(("status", status))
        with pytest.raises(IdentityUnavailable):
            await provider.result(session.session_id)
        assert (await provider.result(session.session_id)).status is IdentityStatus.pending
    assert vendor.capitalize() in str(raised.value)
    if status == 429:
        assert "retry after 2 s" in str(raised.value)


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_vendor_slower_than_the_timeout_is_for_later(fake: FakeIdv, vendor: str) -> None:
    async with opened(adapter(vendor, fake, timeout=0.5)) as provider:
        fake.script.append(("slow", 1.5))
        with pytest.raises(IdentityUnavailable, match="Timeout"):
            await provider.start(REQUEST)


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_vendor_that_is_down_is_for_later(vendor: str) -> None:
    async with fake_idv_vendors() as stopped:
        pass
    async with opened(adapter(vendor, stopped, timeout=2)) as provider:
        with pytest.raises(IdentityUnavailable, match="did not answer: ConnectError"):
            await provider.start(REQUEST)


@pytest.mark.parametrize(
    ("provider_of", "message"),
    [
        (
            lambda base: VeriffIdentity(
                api_key="wrong", shared_secret=VERIFF_SECRET, base_url=base, timeout=5
            ),
            "X-AUTH-CLIENT",
        ),
        (
            lambda base: VeriffIdentity(
                api_key=VERIFF_KEY, shared_secret="wrong", base_url=base, timeout=5
            ),
            "x-hmac-signature",
        ),
        (
            lambda base: OnfidoIdentity(
                api_token="wrong",
                webhook_token=ONFIDO_WEBHOOK_TOKEN,
                workflow_id=ONFIDO_WORKFLOW,
                base_url=base,
                timeout=5,
            ),
            "re-check your credentials",
        ),
        (
            lambda base: OnfidoIdentity(
                api_token=ONFIDO_TOKEN,
                webhook_token=ONFIDO_WEBHOOK_TOKEN,
                workflow_id="not-our-workflow",
                base_url=base,
                timeout=5,
            ),
            "validation error",
        ),
    ],
)
async def test_wrong_credentials_or_configuration_are_refused(
    fake: FakeIdv, provider_of: object, message: str
) -> None:
    assert callable(provider_of)
    async with opened(provider_of(fake.base_url)) as provider:
        with pytest.raises(IdentityRefused, match=message):
            await provider.start(REQUEST)
    assert fake.created == []


@pytest.mark.parametrize("vendor", VENDORS)
async def test_an_unknown_session_is_refused(fake: FakeIdv, vendor: str) -> None:
    async with opened(adapter(vendor, fake)) as provider:
        with pytest.raises(IdentityRefused, match="404"):
            await provider.result("00000000-0000-4000-8000-000000000000")


# --- development ----------------------------------------------------------------------------


def dev(tmp_path: Path) -> DevIdentity:
    return DevIdentity(tmp_path / "identity", "http://127.0.0.1:8000/")


async def test_dev_round_trip(tmp_path: Path) -> None:
    provider = dev(tmp_path)
    session = await provider.start(REQUEST)
    assert session.provider == "dev"
    assert session.verification_url == f"http://127.0.0.1:8000/dev/identity/{session.session_id}"
    page = await provider.session(session.session_id)
    assert (page.first_name, page.last_name, page.reference) == (
        "Marie Claire",
        "Dupont",
        "idv-ref-1",
    )
    assert (page.status, page.return_url, page.locale) == (
        IdentityStatus.pending,
        REQUEST.return_url,
        "fr",
    )
    assert (await provider.result(session.session_id)).status is IdentityStatus.pending
    await provider.complete(
        session.session_id, outcome="approved", first_name="Marie Claire", last_name="Dupont"
    )
    result = await provider.result(session.session_id)
    assert (result.status, result.vendor_status) == (IdentityStatus.approved, "approved")
    assert result.identity is not None
    assert (result.identity.first_name, result.identity.document_type) == (
        "Marie Claire",
        "ID_CARD",
    )
    assert (await provider.session(session.session_id)).status is IdentityStatus.approved


async def test_dev_sessions_are_private_files_written_whole(tmp_path: Path) -> None:
    provider = dev(tmp_path)
    session = await provider.start(REQUEST)
    [path] = (tmp_path / "identity").iterdir()  # no temporary file left behind
    assert path.name == f"{session.session_id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["declared"]["last_name"] == "Dupont"


async def test_dev_review_then_a_final_word_that_stays(tmp_path: Path) -> None:
    provider = dev(tmp_path)
    session_id = (await provider.start(REQUEST)).session_id
    names = {"first_name": "Marie Claire", "last_name": "Durand"}
    await provider.complete(session_id, outcome="review", **names)
    assert (await provider.result(session_id)).status is IdentityStatus.review
    await provider.complete(session_id, outcome="declined", reason="name_mismatch", **names)
    with pytest.raises(ValueError, match="already declined"):
        await provider.complete(session_id, outcome="approved", **names)
    result = await provider.result(session_id)
    assert (result.status, result.reason) == (IdentityStatus.declined, "name_mismatch")


async def test_dev_expired_has_no_identity(tmp_path: Path) -> None:
    provider = dev(tmp_path)
    session_id = (await provider.start(REQUEST)).session_id
    await provider.complete(session_id, outcome="expired", first_name="", last_name="")
    result = await provider.result(session_id)
    assert (result.status, result.identity) == (IdentityStatus.expired, None)


@pytest.mark.parametrize("session_id", ["dev_" + "0" * 32, "../outside", "dev_x", ""])
async def test_dev_refuses_unknown_sessions(tmp_path: Path, session_id: str) -> None:
    provider = dev(tmp_path)
    session = await provider.start(REQUEST)
    # A session file outside the directory, reachable by a path in the id: never read.
    record = (tmp_path / "identity" / f"{session.session_id}.json").read_text()
    (tmp_path / "outside.json").write_text(record)
    with pytest.raises(IdentityRefused):
        await provider.result(session_id)
    with pytest.raises(LookupError):
        await provider.session(session_id)
    with pytest.raises(LookupError):
        await provider.complete(session_id, outcome="approved", first_name="A", last_name="B")


@pytest.mark.parametrize("outcome", ["pending", "accepted", ""])
async def test_dev_refuses_outcomes_it_does_not_know(tmp_path: Path, outcome: str) -> None:
    provider = dev(tmp_path)
    session_id = (await provider.start(REQUEST)).session_id
    with pytest.raises(ValueError, match="unknown outcome"):
        await provider.complete(session_id, outcome=outcome, first_name="A", last_name="B")
    assert (await provider.result(session_id)).status is IdentityStatus.pending


def test_dev_takes_no_callbacks(tmp_path: Path) -> None:
    with pytest.raises(BadCallback, match="no callbacks"):
        dev(tmp_path).callback_sessions(CallbackRequest("http://127.0.0.1/cb", {}, b"{}"))


# --- the factory ------------------------------------------------------------------------------


def settings(tmp_path: Path, **fields: object) -> Settings:
    unset: dict[str, object] = {
        "veriff_api_key": None,
        "veriff_shared_secret": None,
        "onfido_api_token": None,
        "onfido_webhook_token": None,
        "onfido_workflow_id": None,
        "idv_base_url": None,
    }
    return Settings(data_dir=tmp_path, **{**unset, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("provider", "given", "missing"),
    [
        ("dev", {}, []),
        ("veriff", {}, ["CACHET_VERIFF_API_KEY", "CACHET_VERIFF_SHARED_SECRET"]),
        ("veriff", {"veriff_api_key": "k"}, ["CACHET_VERIFF_SHARED_SECRET"]),
        (
            "onfido",
            {"onfido_api_token": "t"},
            ["CACHET_ONFIDO_WEBHOOK_TOKEN", "CACHET_ONFIDO_WORKFLOW_ID"],
        ),
    ],
)
def test_the_factory_names_the_settings_left_unset(
    tmp_path: Path, provider: str, given: dict[str, str], missing: list[str]
) -> None:
    configured = settings(tmp_path, idv_provider=provider, **given)
    assert missing_idv_settings(configured) == missing
    if missing:
        with pytest.raises(ValueError, match=f"CACHET_IDV_PROVIDER={provider} needs {missing[0]}"):
            build_identity_provider(configured)
    else:
        require_idv_settings(configured)


async def test_the_factory_builds_the_dev_provider_under_data_dir(tmp_path: Path) -> None:
    provider = build_identity_provider(settings(tmp_path, public_url="https://cachet.example"))
    assert isinstance(provider, DevIdentity)
    session = await provider.start(REQUEST)
    assert session.verification_url.startswith("https://cachet.example/dev/identity/dev_")
    assert (tmp_path / "identity" / f"{session.session_id}.json").exists()


@pytest.mark.parametrize("vendor", VENDORS)
async def test_the_factory_builds_each_vendor_from_its_settings(
    fake: FakeIdv, tmp_path: Path, vendor: str
) -> None:
    configured = settings(tmp_path, **idv_settings(vendor, fake))
    async with opened(build_identity_provider(configured)) as provider:
        assert provider.name == vendor
        session = await provider.start(REQUEST)
    assert [c.session_id for c in fake.created] == [session.session_id]
