"""Carrying one-time codes: the job that hands a code to the SMS provider, and the delivery
reports the provider posts back. The codes themselves are otp.py's."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activity import step_at
from app.db import transaction
from app.envelopes.models import Locale, Recipient
from app.evidence.schemas import EventType
from app.observability.metrics import provider_call
from app.providers.sms import SMS_OUTCOMES, DeliveryReport, OutgoingSms, SentSms, SmsRefused
from app.providers.sms import Delivery as Reported
from app.runtime import Runtime
from app.workflow.loading import lock_envelope_row
from app.workflow.models import Delivery, OtpCode, OtpState
from app.workflow.otp import POLICY, signer_phone

log = logging.getLogger(__name__)

TEXT = {
    Locale.fr: "Cachet : votre code de signature est {code}. Il expire dans {minutes} minutes. "
    "Ne le communiquez à personne.",
    Locale.en: "Cachet: your signing code is {code}. It expires in {minutes} minutes. "
    "Do not share it with anyone.",
}


async def send_code_job(runtime: Runtime, payload: dict[str, Any]) -> None:
    """Hands one code to the provider; safe to run again (a code already sent, replaced or
    expired is left alone). A provider that will never reach the number marks the signer's
    phone unreachable and tells the sender; one that is down now is retried by the worker."""
    code_id = uuid.UUID(payload["code_id"])
    code = runtime.secrets.decrypt(payload["sealed_code"])
    outgoing = await _outgoing(runtime, code_id, code)
    if outgoing is None:
        return
    try:
        with provider_call("sms", runtime.sms.name, SMS_OUTCOMES):
            sent = await runtime.sms.send(outgoing)
    except SmsRefused as refused:
        await _refused(runtime, code_id, str(refused))
        return
    await _sent(runtime, code_id, sent)


async def _outgoing(runtime: Runtime, code_id: uuid.UUID, code: str) -> OutgoingSms | None:
    async with transaction(runtime.sessions) as session:
        row = await session.get(OtpCode, code_id)
        if row is None or row.state is not OtpState.queued or row.expires_at <= runtime.clock.now():
            return None
        recipient = await _recipient(session, row)
        phone = signer_phone(recipient)
        if phone is None:
            return None
    minutes = int(POLICY.lifetime.total_seconds() // 60)
    return OutgoingSms(
        to=phone,
        text=TEXT[recipient.locale].format(code=code, minutes=minutes),
        reference=str(code_id),
        status_url=status_url(runtime),
    )


async def _recipient(session: AsyncSession, row: OtpCode) -> Recipient:
    found = await session.scalar(
        select(Recipient)
        .where(Recipient.id == row.recipient_id)
        .execution_options(populate_existing=True)
    )
    assert found is not None  # codes are deleted with their recipient
    return found


def status_url(runtime: Runtime) -> str | None:
    """Where the provider posts delivery reports, as the provider wants it given."""
    endpoint = f"{runtime.settings.base_url}/v1/providers/{runtime.sms.name}/sms-status"
    return runtime.sms.status_url(endpoint)


async def _sent(runtime: Runtime, code_id: uuid.UUID, sent: SentSms) -> None:
    async with transaction(runtime.sessions) as session:
        row = await session.get(OtpCode, code_id, with_for_update=True)
        if row is None or row.provider_message_id is not None:
            return
        envelope = await lock_envelope_row(session, row.envelope_id)
        if row.state is OtpState.queued:
            row.state = OtpState.sent
        row.provider, row.provider_message_id = sent.provider, sent.message_id
        row.delivery = Delivery.pending
        await step_at(runtime).record(
            session,
            envelope,
            EventType.otp_sent,
            recipient_id=str(row.recipient_id),
            code_id=str(row.id),
            provider=sent.provider,
            provider_message_id=sent.message_id,
            phone=row.phone_hint,
        )


async def _refused(runtime: Runtime, code_id: uuid.UUID, reason: str) -> None:
    async with transaction(runtime.sessions) as session:
        row = await session.get(OtpCode, code_id, with_for_update=True)
        if row is None or row.state is not OtpState.queued:
            return
        envelope = await lock_envelope_row(session, row.envelope_id)
        recipient = await _recipient(session, row)
        step = step_at(runtime)
        row.state = OtpState.refused
        recipient.phone_unreachable_at = step.now
        await step.record(
            session,
            envelope,
            EventType.recipient_phone_unreachable,
            recipient_id=str(recipient.id),
            phone=row.phone_hint,
            provider=runtime.sms.name,
            reason=reason[:300],
        )


async def send_outcome(runtime: Runtime, code_id: uuid.UUID, *, within: float) -> OtpState:
    """The code's state once its job has had `within` seconds to hand it to the provider
    (queued still, when the provider is slow or down: the job goes on)."""
    deadline = time.monotonic() + within
    while True:
        async with runtime.sessions() as session:
            state = await session.scalar(select(OtpCode.state).where(OtpCode.id == code_id))
        if state is not OtpState.queued or time.monotonic() >= deadline:
            return state or OtpState.queued
        await asyncio.sleep(0.05)


async def record_deliveries(runtime: Runtime, provider: str, reports: list[DeliveryReport]) -> None:
    """Delivery reports: the first final word on a code is recorded once. Duplicates, reports
    that arrive out of order (`sent` after `delivered`) and unknown ids change nothing."""
    for report in reports:
        if report.delivery is Reported.pending:
            continue
        async with transaction(runtime.sessions) as session:
            await _record_delivery(runtime, session, provider, report)


async def _record_delivery(
    runtime: Runtime, session: AsyncSession, provider: str, report: DeliveryReport
) -> None:
    row = await session.scalar(
        select(OtpCode)
        .where(OtpCode.provider == provider, OtpCode.provider_message_id == report.message_id)
        .with_for_update()
    )
    if row is None or row.delivery in (Delivery.delivered, Delivery.undelivered):
        return
    envelope = await lock_envelope_row(session, row.envelope_id)
    delivered = report.delivery is Reported.delivered
    row.delivery = Delivery.delivered if delivered else Delivery.undelivered
    await step_at(runtime).record(
        session,
        envelope,
        EventType.otp_delivered if delivered else EventType.otp_undelivered,
        recipient_id=str(row.recipient_id),
        code_id=str(row.id),
        provider=provider,
        status=report.status,
        error_code=report.error_code,
    )
