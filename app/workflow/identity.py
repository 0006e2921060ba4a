"""The identity step of eIDAS advanced: the signer's identity document checked by a provider.

A signer whose SMS code is verified starts a session at the provider (POST
/v1/signing/identity) and follows its URL. The provider's callback is only a trigger: the result
is always read back from the provider (refresh), which also runs when the signer asks for the
status and, for a callback that never comes, from the periodic sweep. An approved result counts
only if the names on the document are the recipient's (identity_names.py); otherwise it is
declined as `identity_mismatch`, and no signature is possible until the sender corrects the
recipient's name (corrections.py), which supersedes the sessions before it. At most
CACHET_IDV_MAX_ATTEMPTS sessions per signer; only names, document type and issuing country are
kept, never images or document numbers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activity import Step
from app.envelopes.models import Envelope, Level, Recipient
from app.envelopes.people import recipient_email, shown_names
from app.errors import Conflict, Forbidden
from app.evidence.schemas import EventType
from app.providers.identity import IdentityRequest, IdentityStatus, VerificationResult
from app.workflow import otp
from app.workflow.identity_names import names_match
from app.workflow.models import FINAL_IDENTITY_STATES, IdentityState, IdentityVerification
from app.workflow.turns import require_turn

MISMATCH = "identity_mismatch"
OPEN_STATES = frozenset({IdentityState.starting, IdentityState.pending, IdentityState.review})
STATE_OF = {
    IdentityStatus.pending: IdentityState.pending,
    IdentityStatus.review: IdentityState.review,
    IdentityStatus.approved: IdentityState.approved,
    IdentityStatus.declined: IdentityState.declined,
    IdentityStatus.expired: IdentityState.expired,
}


def needs_identity(envelope: Envelope) -> bool:
    return envelope.level is Level.eidas_advanced


IdentityStatusName = Literal["not_started", "pending", "review", "approved", "declined", "expired"]
STATUS_NAMES: dict[IdentityState, IdentityStatusName] = {
    IdentityState.starting: "pending",
    IdentityState.pending: "pending",
    IdentityState.review: "review",
    IdentityState.approved: "approved",
    IdentityState.declined: "declined",
    IdentityState.expired: "expired",
}


@dataclass(frozen=True)
class IdentityView:
    """What GET /v1/signing/identity answers."""

    status: IdentityStatusName
    reason: str | None
    attempts_left: int
    verification_url: str | None
    provider: str | None


async def current_verifications(
    session: AsyncSession, recipient: Recipient, *, lock: bool = False
) -> list[IdentityVerification]:
    """The signer's sessions since their name was last corrected, oldest first."""
    query = (
        select(IdentityVerification)
        .where(
            IdentityVerification.recipient_id == recipient.id,
            IdentityVerification.superseded_at.is_(None),
        )
        .order_by(IdentityVerification.created_at)
    )
    if lock:
        query = query.with_for_update()
    return list(await session.scalars(query))


def view_of(rows: list[IdentityVerification], max_attempts: int) -> IdentityView:
    attempts_left = max(0, max_attempts - attempts_used(rows))
    rows = [row for row in rows if row.state is not IdentityState.starting]
    if not rows:
        return IdentityView("not_started", None, attempts_left, None, None)
    latest = rows[-1]
    url = latest.verification_url if latest.state in OPEN_STATES else None
    return IdentityView(
        STATUS_NAMES[latest.state], latest.reason, attempts_left, url, latest.provider
    )


# --- starting a session ---------------------------------------------------------------------


def attempts_used(rows: list[IdentityVerification]) -> int:
    """Sessions the provider created: a start that failed before it is not an attempt."""
    return sum(1 for row in rows if row.provider_session_id is not None)


@dataclass(frozen=True)
class Reserved:
    verification: IdentityVerification
    already_open: bool  # a session still running: the signer gets it again, no attempt spent


def reserve_attempt(
    rows: list[IdentityVerification],
    step: Step,
    envelope: Envelope,
    recipient: Recipient,
    provider: str,
) -> Reserved:
    """The row of a new session (state `starting`), or the open one; refuses when the rules
    say no. The provider is called after this commits, so that no database lock is held
    while it answers, and a second request meanwhile does not start a second session."""
    if not needs_identity(envelope):
        raise Conflict("identity_not_needed", "This envelope's level asks for no identity check.")
    latest = rows[-1] if rows else None
    if latest is not None:
        _refuse_after(latest, step.now)
        if latest.state in OPEN_STATES and latest.verification_url is not None:
            return Reserved(latest, already_open=True)
    if attempts_used(rows) >= step.settings.idv_max_attempts:
        raise Forbidden(
            "identity_attempts_exhausted",
            f"You have used all {step.settings.idv_max_attempts} identity checks. The sender "
            "can correct your name, or cancel the envelope and send a new one.",
        )
    first, last = shown_names(recipient)
    return Reserved(
        IdentityVerification(
            id=uuid.uuid4(),
            tenant_id=envelope.tenant_id,
            envelope_id=envelope.id,
            recipient_id=recipient.id,
            provider=provider,
            state=IdentityState.starting,
            declared_first_name=first,
            declared_last_name=last,
            created_at=step.now,
            checked_at=step.now,
        ),
        already_open=False,
    )


@dataclass(frozen=True)
class Reservation:
    row_id: uuid.UUID
    request: IdentityRequest | None  # what to ask the provider; None: a session is open
    view: IdentityView


async def reserve(
    session: AsyncSession,
    step: Step,
    envelope: Envelope,
    recipient: Recipient,
    *,
    session_id: uuid.UUID,
    provider: str,
) -> Reservation:
    """The signer asks for an identity check: their turn, their SMS code verified in this
    session, the rules above; then a reserved row, or the session still open."""
    require_turn(envelope, recipient)
    await otp.require_verified(
        session,
        envelope,
        recipient,
        session_id=session_id,
        now=step.now,
        valid_for=timedelta(seconds=step.settings.otp_verified_seconds),
    )
    rows = await current_verifications(session, recipient, lock=True)
    reserved = reserve_attempt(rows, step, envelope, recipient, provider)
    row = reserved.verification
    if reserved.already_open:
        return Reservation(row.id, None, view_of(rows, step.settings.idv_max_attempts))
    session.add(row)
    await session.flush()
    request = IdentityRequest(
        reference=str(row.id),
        first_name=row.declared_first_name or "",
        last_name=row.declared_last_name or "",
        email=recipient_email(recipient),
        locale=recipient.locale.value,
        return_url=step.settings.idv_return_url,
    )
    return Reservation(row.id, request, view_of([*rows, row], step.settings.idv_max_attempts))


STARTING_GRACE = timedelta(minutes=1)


def _refuse_after(latest: IdentityVerification, now: datetime) -> None:
    if latest.state is IdentityState.approved:
        raise Conflict("identity_already_verified", "Your identity is verified: you may sign.")
    if latest.state is IdentityState.declined and latest.reason == MISMATCH:
        raise Forbidden(
            MISMATCH,
            "The name on your identity document is not the one the sender gave. The sender "
            "has to correct it before you can sign.",
        )
    # A start under way (another request waits for the provider). One that died half-way
    # is no attempt and no obstacle once the grace has passed.
    if latest.state is IdentityState.starting and now - latest.created_at < STARTING_GRACE:
        raise Conflict(
            "identity_starting", "An identity check is being started; ask again shortly."
        )


async def record_started(
    session: AsyncSession,
    step: Step,
    envelope: Envelope,
    row: IdentityVerification,
    *,
    session_id: str,
    verification_url: str,
) -> None:
    row.provider_session_id, row.verification_url = session_id, verification_url
    row.state, row.checked_at = IdentityState.pending, step.now
    await step.record(
        session,
        envelope,
        EventType.identity_started,
        recipient_id=str(row.recipient_id),
        verification_id=str(row.id),
        provider=row.provider,
        provider_session_id=session_id,
    )


# --- results --------------------------------------------------------------------------------


async def apply_result(
    session: AsyncSession,
    step: Step,
    envelope: Envelope,
    recipient: Recipient,
    row: IdentityVerification,
    result: VerificationResult,
) -> None:
    """The provider's word on one session. A final state is kept: duplicate and out-of-order
    callbacks (`started` after `approved`) change nothing; superseded rows neither."""
    row.checked_at = step.now
    if row.state in FINAL_IDENTITY_STATES or row.superseded_at is not None:
        return
    row.vendor_status = result.vendor_status[:64]
    state = STATE_OF[result.status]
    if state is IdentityState.approved:
        await _approved(session, step, envelope, recipient, row, result)
    elif state in FINAL_IDENTITY_STATES:
        reason = MISMATCH if result.reason == "name_mismatch" else result.reason
        _keep_identity(row, result)
        await _failed(session, step, envelope, row, state, reason)
    else:
        row.state = state


async def _approved(
    session: AsyncSession,
    step: Step,
    envelope: Envelope,
    recipient: Recipient,
    row: IdentityVerification,
    result: VerificationResult,
) -> None:
    identity = result.identity
    _keep_identity(row, result)
    first, last = shown_names(recipient)
    if identity is None or not names_match(
        first or "", last or "", identity.first_name, identity.last_name
    ):
        await _failed(session, step, envelope, row, IdentityState.declined, MISMATCH)
        return
    row.state, row.decided_at, row.reason = IdentityState.approved, step.now, None
    data = _evidence(row)
    await step.record(session, envelope, EventType.identity_approved, **data)
    await step.record(session, envelope, EventType.recipient_identity_approved, **data)


def _keep_identity(row: IdentityVerification, result: VerificationResult) -> None:
    """Names, document type and issuing country: nothing else of the document is kept."""
    identity = result.identity
    if identity is None:
        return
    row.verified_first_name = identity.first_name[:200]
    row.verified_last_name = identity.last_name[:200]
    row.document_type = (identity.document_type or "")[:64] or None
    row.issuing_country = (identity.issuing_country or "")[:3] or None


async def _failed(
    session: AsyncSession,
    step: Step,
    envelope: Envelope,
    row: IdentityVerification,
    state: IdentityState,
    reason: str | None,
) -> None:
    row.state, row.decided_at, row.reason = state, step.now, (reason or "")[:200] or None
    data = _evidence(row)
    event = (
        EventType.identity_declined
        if state is IdentityState.declined
        else (EventType.identity_expired)
    )
    await step.record(session, envelope, event, **data)
    await step.record(session, envelope, EventType.recipient_identity_failed, **data)


def _evidence(row: IdentityVerification) -> dict[str, object]:
    return {
        "recipient_id": str(row.recipient_id),
        "verification_id": str(row.id),
        "provider": row.provider,
        "provider_session_id": row.provider_session_id,
        "status": row.state.value,
        "reason": row.reason,
        "vendor_status": row.vendor_status,
        "document_type": row.document_type,
        "issuing_country": row.issuing_country,
        "verified_first_name": row.verified_first_name,
        "verified_last_name": row.verified_last_name,
    }


async def expire_stale(
    session: AsyncSession, step: Step, envelope: Envelope, row: IdentityVerification
) -> None:
    """A session still open past CACHET_IDV_SESSION_HOURS: the provider has given up on it,
    or will not say; the signer may start another (within the attempts)."""
    if row.state in FINAL_IDENTITY_STATES or row.superseded_at is not None:
        return
    await _failed(session, step, envelope, row, IdentityState.expired, "session_timed_out")


# --- signing --------------------------------------------------------------------------------


async def require_approved(
    session: AsyncSession, envelope: Envelope, recipient: Recipient
) -> IdentityVerification | None:
    """At eIDAS advanced, signing needs the signer's identity approved (and still theirs: a
    corrected name supersedes it). Returns the approved session; None at other levels."""
    if not needs_identity(envelope):
        return None
    rows = await current_verifications(session, recipient)
    approved = next((r for r in reversed(rows) if r.state is IdentityState.approved), None)
    if approved is None:
        raise Forbidden(
            "identity_required",
            "Signing at this level needs your identity verified first: POST "
            "/v1/signing/identity, then follow verification_url.",
        )
    return approved


async def approved_identity(
    session: AsyncSession, recipient: Recipient
) -> IdentityVerification | None:
    rows = await current_verifications(session, recipient)
    return next((r for r in reversed(rows) if r.state is IdentityState.approved), None)


async def supersede(session: AsyncSession, recipient: Recipient, now: datetime) -> int:
    """The sender corrected the recipient's name: the sessions before count no more (the
    signer gets their attempts back); returns how many were set aside."""
    rows = await current_verifications(session, recipient, lock=True)
    for row in rows:
        row.superseded_at = now
    return len(rows)
