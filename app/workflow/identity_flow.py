"""The identity step's conversations with the provider: starting a session, reading its result
(after a callback, when the signer asks, and periodically for a callback that never comes).

The provider is never called inside a database transaction: a slow provider holds no lock.
The rules themselves are identity.py's.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activity import Step, step_at
from app.db import transaction
from app.envelopes.models import Envelope, Recipient
from app.envelopes.people import recipient_email
from app.errors import ProviderFailed, ProviderUnavailable
from app.evidence.service import Actor
from app.jobs.queue import Priority, enqueue
from app.jobs.worker import TryLater
from app.observability.metrics import provider_call
from app.providers.identity import (
    IDENTITY_OUTCOMES,
    IdentityRefused,
    IdentityRequest,
    IdentityUnavailable,
    StartedVerification,
)
from app.runtime import Runtime
from app.workflow import identity
from app.workflow.identity import IdentityView
from app.workflow.loading import load_envelope
from app.workflow.models import IdentityState, IdentityVerification

log = logging.getLogger(__name__)

REFRESH_IDENTITY = "identity.refresh"
RETRY_AFTER_SECONDS = 30
# How soon the signer's status request reads the provider again (the page polls it).
NUDGE_EVERY = timedelta(seconds=5)


async def start(runtime: Runtime, row_id: uuid.UUID, request: IdentityRequest) -> IdentityView:
    """Creates the session at the provider for a reserved row, then records it. A provider
    that fails frees the row (no attempt is spent) and answers 503 or 502."""
    try:
        with provider_call("identity", runtime.identity.name, IDENTITY_OUTCOMES):
            started = await runtime.identity.start(request)
    except IdentityUnavailable as error:
        await _free(runtime, row_id)
        raise ProviderUnavailable(
            "identity_provider_unavailable",
            f"The identity provider did not answer ({error}); try again shortly.",
            retry_after_seconds=RETRY_AFTER_SECONDS,
        ) from error
    except IdentityRefused as error:
        await _free(runtime, row_id)
        log.error("identity provider %s refused a session: %s", runtime.identity.name, error)
        raise ProviderFailed(
            "identity_provider_error",
            "The identity provider refused to start a check; the service's operators are told.",
        ) from error
    return await _record_started(runtime, row_id, started)


async def _free(runtime: Runtime, row_id: uuid.UUID) -> None:
    async with transaction(runtime.sessions) as session:
        locked = await _locked_with_envelope(session, row_id)
        if locked is not None and locked[0].state is IdentityState.starting:
            await session.delete(locked[0])


async def _record_started(
    runtime: Runtime, row_id: uuid.UUID, started: StartedVerification
) -> IdentityView:
    async with transaction(runtime.sessions) as session:
        locked = await _locked_with_envelope(session, row_id)
        assert locked is not None  # only _free deletes a starting row, after a failed start
        row, envelope = locked
        recipient = next(r for r in envelope.recipients if r.id == row.recipient_id)
        step = _as_signer(step_at(runtime), recipient)
        await identity.record_started(
            session,
            step,
            envelope,
            row,
            session_id=started.session_id,
            verification_url=started.verification_url,
        )
        rows = await identity.current_verifications(session, recipient)
        return identity.view_of(rows, runtime.settings.idv_max_attempts)


def _as_signer(step: Step, recipient: Recipient) -> Step:
    return step.by(Actor("recipient", id=str(recipient.id), email=recipient_email(recipient)))


# --- reading results ------------------------------------------------------------------------


async def refresh(runtime: Runtime, provider: str, session_id: str) -> None:
    """Reads one session's result from the provider (the source of truth) and applies it.
    Raises IdentityUnavailable when the provider does not answer."""
    if provider != runtime.identity.name:
        return  # a session of a provider no longer configured: nothing can read it
    with provider_call("identity", provider, IDENTITY_OUTCOMES):
        result = await runtime.identity.result(session_id)
    async with transaction(runtime.sessions) as session:
        row_id = await session.scalar(
            select(IdentityVerification.id).where(
                IdentityVerification.provider == provider,
                IdentityVerification.provider_session_id == session_id,
            )
        )
        if row_id is None:
            log.info("%s session %s is not one of ours (or was removed)", provider, session_id)
            return
        locked = await _locked_with_envelope(session, row_id)
        if locked is not None:
            row, envelope = locked
            recipient = next(r for r in envelope.recipients if r.id == row.recipient_id)
            await identity.apply_result(session, step_at(runtime), envelope, recipient, row, result)


async def _locked_with_envelope(
    session: AsyncSession, row_id: uuid.UUID
) -> tuple[IdentityVerification, Envelope] | None:
    """The row and its envelope, locked in the order every writer uses: envelope first."""
    envelope_id = await session.scalar(
        select(IdentityVerification.envelope_id).where(IdentityVerification.id == row_id)
    )
    if envelope_id is None:
        return None
    envelope = await load_envelope(session, envelope_id, lock=True)
    row = await session.get(
        IdentityVerification, row_id, with_for_update=True, populate_existing=True
    )
    return (row, envelope) if row is not None else None


async def queue_refresh(runtime: Runtime, provider: str, session_ids: list[str]) -> None:
    """After a verified callback: each session is read again by a job (retried while the
    provider does not answer), so the callback is answered at once."""
    async with transaction(runtime.sessions) as session:
        for session_id in session_ids:
            await enqueue(
                session,
                REFRESH_IDENTITY,
                {"provider": provider, "session_id": session_id},
                priority=Priority.person_waiting,  # back from the provider, on the page
            )


async def refresh_job(runtime: Runtime, payload: dict[str, Any]) -> None:
    try:
        await refresh(runtime, payload["provider"], payload["session_id"])
    except IdentityUnavailable as error:
        raise TryLater(str(error)) from error


async def nudge(runtime: Runtime, row: IdentityVerification) -> None:
    """The signer asked for the status of an open session not read for a while: read it now
    rather than wait for the callback or the sweep (errors wait for those)."""
    if row.state not in identity.OPEN_STATES or row.provider_session_id is None:
        return
    if runtime.clock.now() - row.checked_at < NUDGE_EVERY:
        return
    try:
        await refresh(runtime, row.provider, row.provider_session_id)
    except (IdentityUnavailable, IdentityRefused) as error:
        log.info("identity status not refreshed for %s: %s", row.id, error)


async def poll_open_sessions(runtime: Runtime, *, limit: int = 100) -> None:
    """From the periodic sweep: sessions whose callback has not come are read again every
    CACHET_IDV_POLL_SECONDS (by a job each, marked read now so that the next sweep does not
    queue them again); those open past CACHET_IDV_SESSION_HOURS are expired."""
    now = runtime.clock.now()
    stale_after = timedelta(hours=runtime.settings.idv_session_hours)
    async with transaction(runtime.sessions) as session:
        rows = list(
            await session.scalars(
                select(IdentityVerification)
                .where(
                    IdentityVerification.state.in_([IdentityState.pending, IdentityState.review]),
                    IdentityVerification.superseded_at.is_(None),
                    IdentityVerification.checked_at
                    < now - timedelta(seconds=runtime.settings.idv_poll_seconds),
                )
                .order_by(IdentityVerification.checked_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        stale = [row.id for row in rows if now - row.created_at > stale_after]
        for row in rows:
            row.checked_at = now
            if row.id not in stale and row.provider_session_id is not None:
                payload = {"provider": row.provider, "session_id": row.provider_session_id}
                await enqueue(session, REFRESH_IDENTITY, payload)
    for row_id in stale:
        await _expire(runtime, row_id)


async def _expire(runtime: Runtime, row_id: uuid.UUID) -> None:
    async with transaction(runtime.sessions) as session:
        locked = await _locked_with_envelope(session, row_id)
        if locked is not None:
            await identity.expire_stale(session, step_at(runtime), locked[1], locked[0])
