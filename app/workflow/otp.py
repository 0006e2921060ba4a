"""The SMS step of the eIDAS levels: a one-time code sent to the signer's phone, entered back.

The rules are otp_rules.py's (NIST SP 800-63B): 6 digits from `secrets`, 5 minutes, single use,
5 tries per code, the signer locked after 10 failures (the sender unlocks by reminding), at
most 3 sends per 15 minutes and one per 30 s, a new code replacing the last. Only an HMAC of
a code is stored; the job that sends it carries it encrypted under the secret key. A verified
code lets the session that entered it sign for CACHET_OTP_VERIFIED_SECONDS.
"""

from __future__ import annotations

import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.activity import Step
from app.envelopes.models import Envelope, Level, Recipient
from app.errors import (
    Conflict,
    DomainError,
    FieldError,
    Forbidden,
    Locked,
    TooManyRequests,
    ValidationFailed,
)
from app.evidence.schemas import EventType
from app.jobs.queue import Priority, enqueue
from app.workflow.models import OtpCode, OtpState
from app.workflow.otp_rules import CodeState, OtpPolicy, Verdict, judge, phone_hint, send_wait

SEND_CODE = "sms.send"
POLICY = OtpPolicy()
LEVELS_WITH_CODE = frozenset({Level.eidas_simple, Level.eidas_advanced})
OPEN_STATES = (OtpState.queued, OtpState.sent)


def needs_code(envelope: Envelope) -> bool:
    return envelope.level in LEVELS_WITH_CODE


def signer_phone(recipient: Recipient) -> str | None:
    return recipient.phone or (recipient.user.phone if recipient.user else None)


@dataclass(frozen=True)
class CodeRequested:
    code_id: uuid.UUID
    expires_at: datetime
    resend_after_seconds: int
    phone_hint: str


async def request_code(
    session: AsyncSession,
    step: Step,
    envelope: Envelope,
    recipient: Recipient,
    *,
    session_id: uuid.UUID,
) -> CodeRequested:
    """A new code for the signer whose turn it is, replacing any before it, and its send job."""
    phone = _require_code_possible(envelope, recipient)
    sent_at = await _sent_times(session, recipient)
    wait = send_wait(sent_at, step.now, POLICY)
    if wait is not None:
        seconds = math.ceil(wait.total_seconds())
        raise TooManyRequests(
            "otp_rate_limited",
            f"A code was sent recently; the next one can be sent in {seconds} s.",
            retry_after_seconds=seconds,
        )
    await _replace_open_codes(session, recipient)
    code = f"{secrets.randbelow(10**6):06d}"
    row = _new_code_row(step, envelope, recipient, session_id, code, phone)
    session.add(row)
    await session.flush()
    sealed = step.secrets.encrypt(code)  # the job's payload never holds it in clear
    await enqueue(
        session,
        SEND_CODE,
        {"code_id": str(row.id), "sealed_code": sealed},
        priority=Priority.person_waiting,
    )
    return CodeRequested(
        row.id,
        row.expires_at,
        math.ceil(POLICY.resend_after.total_seconds()),
        row.phone_hint,
    )


def _require_code_possible(envelope: Envelope, recipient: Recipient) -> str:
    if not needs_code(envelope):
        raise Conflict("otp_not_needed", "This envelope's level asks for no SMS code.")
    if recipient.otp_locked_at is not None:
        raise _locked()
    phone = signer_phone(recipient)
    if recipient.phone_unreachable_at is not None or phone is None:
        raise unreachable()
    return phone


def _new_code_row(
    step: Step,
    envelope: Envelope,
    recipient: Recipient,
    session_id: uuid.UUID,
    code: str,
    phone: str,
) -> OtpCode:
    code_id = uuid.uuid4()
    return OtpCode(
        id=code_id,
        tenant_id=envelope.tenant_id,
        envelope_id=envelope.id,
        recipient_id=recipient.id,
        session_id=session_id,
        code_mac=step.secrets.otp_mac(code_id, code),
        phone_hint=phone_hint(phone),
        state=OtpState.queued,
        created_at=step.now,
        expires_at=step.now + POLICY.lifetime,
        tries_used=0,
    )


async def _sent_times(session: AsyncSession, recipient: Recipient) -> list[datetime]:
    """When each code this signer asked for was made (the send limits count them all)."""
    query = select(OtpCode.created_at).where(OtpCode.recipient_id == recipient.id)
    return list((await session.scalars(query)).all())


async def _replace_open_codes(session: AsyncSession, recipient: Recipient) -> None:
    await session.execute(
        update(OtpCode)
        .where(OtpCode.recipient_id == recipient.id, OtpCode.state.in_(OPEN_STATES))
        .values(state=OtpState.replaced)
    )


@dataclass(frozen=True)
class Entered:
    """What entering a code did; a refusal is given back, not raised, so that the failure it
    counts is committed with the answer."""

    refusal: DomainError | None


async def verify_code(
    session: AsyncSession,
    step: Step,
    envelope: Envelope,
    recipient: Recipient,
    *,
    session_id: uuid.UUID,
    code: str,
) -> Entered:
    _require_code_possible(envelope, recipient)
    row = await _latest_code(session, recipient)
    if row is None:
        raise ValidationFailed(
            "otp_invalid",
            "No code has been sent yet: ask for one first.",
            [_pointer("ask for a code with POST /v1/signing/otp")],
            attempts_left=0,
        )
    matches = step.secrets.otp_matches(row.id, code, row.code_mac)
    closed = row.state in (OtpState.replaced, OtpState.used)
    state = CodeState(row.expires_at, row.tries_used, closed=closed)
    verdict = judge(
        state, matches=matches, failures=recipient.otp_failures, now=step.now, policy=POLICY
    )
    return Entered(await _apply(session, step, envelope, recipient, row, verdict, session_id))


async def _apply(
    session: AsyncSession,
    step: Step,
    envelope: Envelope,
    recipient: Recipient,
    row: OtpCode,
    verdict: Verdict,
    session_id: uuid.UUID,
) -> DomainError | None:
    if verdict is Verdict.accepted:
        await _accept(session, step, envelope, recipient, row, session_id)
        return None
    if verdict is Verdict.expired:
        return ValidationFailed(
            "otp_expired", "This code has expired: ask for a new one.", [_pointer("expired")]
        )
    if verdict is Verdict.exhausted:
        return ValidationFailed(
            "otp_invalid",
            "This code has had its 5 tries: ask for a new one.",
            [_pointer("no tries left")],
            attempts_left=0,
        )
    if verdict is Verdict.used:
        return ValidationFailed(
            "otp_used",
            "This code was used already, or replaced by a newer one: use the newest.",
            [_pointer("used or replaced")],
        )
    return await _count_failure(session, step, envelope, recipient, row, verdict)


async def _accept(
    session: AsyncSession,
    step: Step,
    envelope: Envelope,
    recipient: Recipient,
    row: OtpCode,
    session_id: uuid.UUID,
) -> None:
    row.state, row.verified_at, row.verified_session_id = OtpState.used, step.now, session_id
    recipient.otp_failures = 0
    await step.record(
        session,
        envelope,
        EventType.otp_verified,
        recipient_id=str(recipient.id),
        code_id=str(row.id),
        phone=row.phone_hint,
    )


async def _count_failure(
    session: AsyncSession,
    step: Step,
    envelope: Envelope,
    recipient: Recipient,
    row: OtpCode,
    verdict: Verdict,
) -> DomainError:
    row.tries_used += 1
    recipient.otp_failures += 1
    left = max(POLICY.tries_per_code - row.tries_used, 0)
    await step.record(
        session,
        envelope,
        EventType.otp_failed,
        recipient_id=str(recipient.id),
        code_id=str(row.id),
        attempts_left=left,
        failures=recipient.otp_failures,
    )
    if verdict is Verdict.locked:
        await _lock(session, step, envelope, recipient)
        return _locked()
    detail = "Wrong code." + (" Ask for a new one." if left == 0 else f" {left} tries left.")
    return ValidationFailed("otp_invalid", detail, [_pointer("does not match")], attempts_left=left)


async def _lock(
    session: AsyncSession, step: Step, envelope: Envelope, recipient: Recipient
) -> None:
    recipient.otp_locked_at = step.now
    data = {"recipient_id": str(recipient.id), "failures": recipient.otp_failures}
    await step.record(session, envelope, EventType.otp_locked, **data)
    # The sender hears of it (webhook): only they can unlock, by reminding the signer.
    await step.record(session, envelope, EventType.recipient_otp_locked, **data)


async def unlock(
    session: AsyncSession, step: Step, envelope: Envelope, recipient: Recipient
) -> None:
    """The sender re-invites a locked signer: their failures are forgiven."""
    if recipient.otp_locked_at is None:
        return
    recipient.otp_locked_at, recipient.otp_failures = None, 0
    await step.record(session, envelope, EventType.otp_unlocked, recipient_id=str(recipient.id))


async def require_verified(
    session: AsyncSession,
    envelope: Envelope,
    recipient: Recipient,
    *,
    session_id: uuid.UUID,
    now: datetime,
    valid_for: timedelta,
) -> None:
    """At eIDAS levels, signing needs a code verified by this session, recently."""
    if not needs_code(envelope):
        return
    verified = await session.scalar(
        select(OtpCode.id).where(
            OtpCode.recipient_id == recipient.id,
            OtpCode.state == OtpState.used,
            OtpCode.verified_session_id == session_id,
            OtpCode.verified_at > now - valid_for,
        )
    )
    if verified is None:
        raise Forbidden(
            "otp_required",
            "Signing at this level needs the SMS code sent to your phone, entered in this "
            "session: POST /v1/signing/otp, then /v1/signing/otp/verify.",
        )


async def _latest_code(session: AsyncSession, recipient: Recipient) -> OtpCode | None:
    return await session.scalar(
        select(OtpCode)
        .where(OtpCode.recipient_id == recipient.id, OtpCode.state != OtpState.refused)
        .order_by(OtpCode.created_at.desc())
        .limit(1)
        .with_for_update()
    )


async def code_verified_for(
    session: AsyncSession, recipient: Recipient, session_id: uuid.UUID, *, since: datetime
) -> bool:
    """Whether this session entered a good code after `since` (for the signer's steps)."""
    found = await session.scalar(
        select(OtpCode.id).where(
            OtpCode.recipient_id == recipient.id,
            OtpCode.verified_session_id == session_id,
            OtpCode.verified_at > since,
        )
    )
    return found is not None


def _locked() -> Locked:
    return Locked(
        "otp_locked",
        "Too many wrong codes: signing is locked until the sender sends you a reminder.",
    )


def unreachable() -> ValidationFailed:
    return ValidationFailed(
        "phone_unreachable",
        "Text messages cannot reach this signer's phone number; the sender has been told.",
        [_pointer("unreachable", "/phone")],
    )


def _pointer(detail: str, pointer: str = "/code") -> FieldError:
    return FieldError(pointer, detail)
