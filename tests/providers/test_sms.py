"""Each SMS adapter against a server on 127.0.0.1 that speaks its vendor's wire format: a sent
message and its id, a number the vendor refuses, the vendor's throttling, errors and silence,
and delivery reports, signed or not."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import pytest

from app.providers.brevo import BrevoSms
from app.providers.ovh import OvhSms
from app.providers.sms import (
    BadCallback,
    CallbackRequest,
    Delivery,
    OutgoingSms,
    SmsProvider,
    SmsRefused,
    SmsUnavailable,
)
from app.providers.twilio import TwilioSms
from tests.providers.fakes import (
    BREVO_KEY,
    OVH_AK,
    OVH_AS,
    OVH_CK,
    OVH_SERVICE,
    TWILIO_SID,
    TWILIO_TOKEN,
    UNROUTABLE,
    FakeVendors,
    fake_vendors,
)

MOBILE = "+33612345678"
STATUS_URL = "https://cachet.example/v1/providers/{vendor}/sms-status?token=cb-token"


@pytest.fixture
async def vendors() -> AsyncIterator[FakeVendors]:
    async with fake_vendors() as running:
        yield running


def adapter(vendor: str, vendors: FakeVendors, *, timeout: float = 5.0) -> SmsProvider:
    base = vendors.base_url
    if vendor == "twilio":
        return TwilioSms(
            account_sid=TWILIO_SID,
            auth_token=TWILIO_TOKEN,
            sender="Cachet",
            messaging_service_sid=None,
            base_url=base,
            timeout=timeout,
        )
    if vendor == "brevo":
        return BrevoSms(
            api_key=BREVO_KEY,
            sender="Cachet",
            callback_token="cb-token",
            base_url=base,
            timeout=timeout,
        )
    return OvhSms(
        application_key=OVH_AK,
        application_secret=OVH_AS,
        consumer_key=OVH_CK,
        service_name=OVH_SERVICE,
        sender="Cachet",
        base_url=base + "/1.0",
        timeout=timeout,
    )


def sms(to: str = MOBILE, vendor: str = "twilio") -> OutgoingSms:
    return OutgoingSms(
        to=to, text="Code : 123456", reference="otp-1", status_url=STATUS_URL.format(vendor=vendor)
    )


VENDORS = ["twilio", "brevo", "ovh"]


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_message_is_sent_and_its_id_kept(vendors: FakeVendors, vendor: str) -> None:
    provider = adapter(vendor, vendors)
    try:
        sent = await provider.send(sms(vendor=vendor))
    finally:
        await provider.aclose()
    assert sent.provider == vendor
    [delivered] = vendors.sent
    assert (delivered.vendor, delivered.to, delivered.text) == (vendor, MOBILE, "Code : 123456")
    assert delivered.message_id == sent.message_id


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("number", [UNROUTABLE, "+1"])
async def test_a_number_the_vendor_refuses_is_refused_for_good(
    vendors: FakeVendors, vendor: str, number: str
) -> None:
    provider = adapter(vendor, vendors)
    try:
        with pytest.raises(SmsRefused):
            await provider.send(sms(to=number, vendor=vendor))
    finally:
        await provider.aclose()
    assert vendors.sent == []


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("failure", [("status", 429), ("status", 500), ("status", 503)])
async def test_throttling_and_vendor_errors_are_for_later(
    vendors: FakeVendors, vendor: str, failure: tuple[str, float]
) -> None:
    vendors.script.append(failure)
    provider = adapter(vendor, vendors)
    try:
        with pytest.raises(SmsUnavailable):
            await provider.send(sms(vendor=vendor))
        assert (await provider.send(sms(vendor=vendor))).message_id  # the next one goes
    finally:
        await provider.aclose()


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_vendor_slower_than_the_timeout_is_for_later(
    vendors: FakeVendors, vendor: str
) -> None:
    vendors.script.append(("slow", 1.5))
    provider = adapter(vendor, vendors, timeout=0.5)
    try:
        with pytest.raises(SmsUnavailable):
            await provider.send(sms(vendor=vendor))
    finally:
        await provider.aclose()


async def test_a_vendor_that_is_down_is_for_later() -> None:
    async with fake_vendors() as stopped:
        base = stopped.base_url
    provider = TwilioSms(
        account_sid=TWILIO_SID,
        auth_token=TWILIO_TOKEN,
        sender="Cachet",
        messaging_service_sid=None,
        base_url=base,
        timeout=2,
    )
    try:
        with pytest.raises(SmsUnavailable):
            await provider.send(sms())
    finally:
        await provider.aclose()


async def test_wrong_credentials_are_not_blamed_on_the_number(vendors: FakeVendors) -> None:
    provider = TwilioSms(
        account_sid=TWILIO_SID,
        auth_token="wrong",
        sender="Cachet",
        messaging_service_sid=None,
        base_url=vendors.base_url,
        timeout=5,
    )
    try:
        with pytest.raises(SmsUnavailable, match="20003"):
            await provider.send(sms())
    finally:
        await provider.aclose()


async def test_ovh_signs_with_the_servers_clock(vendors: FakeVendors) -> None:
    vendors.ovh_clock_skew = 600  # ten minutes ahead: an unsynchronised client is refused
    provider = adapter("ovh", vendors)
    try:
        assert (await provider.send(sms(vendor="ovh"))).message_id
    finally:
        await provider.aclose()


async def test_ovh_refuses_a_wrong_secret(vendors: FakeVendors) -> None:
    provider = OvhSms(
        application_key=OVH_AK,
        application_secret="not-the-secret",
        consumer_key=OVH_CK,
        service_name=OVH_SERVICE,
        sender="Cachet",
        base_url=vendors.base_url + "/1.0",
        timeout=5,
    )
    try:
        with pytest.raises(SmsUnavailable, match="INVALID_SIGNATURE"):
            await provider.send(sms(vendor="ovh"))
    finally:
        await provider.aclose()


async def test_twilio_delivery_reports_are_read_only_when_signed(vendors: FakeVendors) -> None:
    provider = adapter("twilio", vendors)
    try:
        await provider.send(sms())
        [message] = vendors.sent
        for status, delivery in (
            ("sent", Delivery.pending),
            ("delivered", Delivery.delivered),
            ("undelivered", Delivery.undelivered),
        ):
            form, headers = vendors.twilio_callback(message, status)
            request = _form_request(message.status_url, form, headers)
            [report] = provider.delivery_reports(request)
            assert (report.message_id, report.delivery) == (message.message_id, delivery)
        form, headers = vendors.twilio_callback(message, "delivered", token="not-twilio's")
        with pytest.raises(BadCallback):
            provider.delivery_reports(_form_request(message.status_url, form, headers))
        form, headers = vendors.twilio_callback(message, "delivered")
        form["MessageStatus"] = "failed"  # altered after signing
        with pytest.raises(BadCallback):
            provider.delivery_reports(_form_request(message.status_url, form, headers))
    finally:
        await provider.aclose()


def _form_request(
    url: str | None, form: dict[str, str], headers: dict[str, str]
) -> CallbackRequest:

    assert url is not None
    lowered = {name.lower(): value for name, value in headers.items()}
    return CallbackRequest(url=url, headers=lowered, body=urlencode(form).encode())


async def test_brevo_delivery_reports_need_the_token(vendors: FakeVendors) -> None:
    provider = adapter("brevo", vendors)
    try:
        await provider.send(sms(vendor="brevo"))
        [message] = vendors.sent
        event = {"messageId": int(message.message_id), "msg_status": "delivered"}
        body = json.dumps(event).encode()
        assert message.status_url is not None
        [report] = provider.delivery_reports(CallbackRequest(message.status_url, {}, body))
        assert report.delivery is Delivery.delivered
        bearer = {"authorization": "Bearer cb-token"}
        plain = message.status_url.split("?")[0]
        assert provider.delivery_reports(CallbackRequest(plain, bearer, body))
        for url in (plain, plain + "?token=guess"):
            with pytest.raises(BadCallback):
                provider.delivery_reports(CallbackRequest(url, {}, body))
    finally:
        await provider.aclose()
