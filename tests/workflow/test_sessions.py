"""Recipient sessions end with their envelope: cancel, decline, expiry (and failure, see
test_failure.py) close every open session at once with 410; a completed envelope stays
readable; no session lives longer than CACHET_SESSION_MAX_SECONDS however busy it is."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta

from app.runtime import Runtime
from app.worker import sweep
from tests.support import ApiClient
from tests.support.sinks import MailSink
from tests.workflow.support import Recipient, approval_envelope, open_invitation, send
from tests.workflow.test_lifecycle import clock_moved


@asynccontextmanager
async def two_sessions(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, **fields: object
) -> AsyncIterator[tuple[str, Recipient, Recipient]]:
    """A sent approval envelope; its first approver's session, and the second's, opened early
    (not their turn yet) from the link the service would email them."""
    envelope, approvers = await approval_envelope(
        api, approvers=2, tag=uuid.uuid4().hex[:8], **fields
    )
    await send(api, envelope["id"])
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(
            open_invitation(base_url, mail, approvers[0]["email"])
        )
        second = await stack.enter_async_context(Recipient(base_url=base_url, timeout=30))
        token = runtime.secrets.link_token(uuid.UUID(approvers[1]["id"]))
        assert (await second.open(token)).status_code == 201
        yield envelope["id"], first, second


async def _ended(recipient: Recipient, envelope_id: str, api: ApiClient) -> None:
    document = (await api.get_envelope(envelope_id))["documents"][0]["id"]
    for path in ("/v1/signing/envelope", f"/v1/signing/documents/{document}/content"):
        response = await recipient.get(path)
        assert response.status_code == 410, (path, response.text)
        assert response.json()["code"] == "envelope_ended"


async def test_cancel_ends_every_session(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    async with two_sessions(api, base_url, mail, runtime) as (envelope_id, first, second):
        assert (await first.get("/v1/signing/envelope")).status_code == 200
        assert (await api.post(f"/v1/envelopes/{envelope_id}/cancel")).status_code == 200
        await _ended(first, envelope_id, api)
        await _ended(second, envelope_id, api)
        assert (await first.approve()).status_code == 410


async def test_a_decline_ends_the_other_sessions(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    async with two_sessions(api, base_url, mail, runtime) as (envelope_id, first, second):
        assert (await first.decline("Non")).status_code == 200
        await _ended(second, envelope_id, api)
        await _ended(first, envelope_id, api)


async def test_expiry_ends_every_session(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    expires_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    async with two_sessions(api, base_url, mail, runtime, expires_at=expires_at) as (
        envelope_id,
        first,
        _second,
    ):
        with clock_moved(runtime, timedelta(days=1, minutes=1)):
            await sweep(runtime, {})
        assert (await api.get_envelope(envelope_id))["status"] == "expired"
        await _ended(first, envelope_id, api)


async def test_a_completed_envelope_stays_readable_but_nothing_can_be_done(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    async with two_sessions(api, base_url, mail, runtime) as (envelope_id, first, second):
        assert (await first.approve()).status_code == 200
        assert (await second.approve()).status_code == 200
        assert (await api.get_envelope(envelope_id))["status"] == "completed"
        view = await first.get("/v1/signing/envelope")
        assert view.status_code == 200 and view.json()["me"]["actions"] == []
        assert (await second.decline("trop tard")).status_code == 410


async def test_no_session_outlives_its_absolute_lifetime(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    """Used every 25 minutes (never idle 30), it still ends 8 hours after it was opened."""
    limit = runtime.settings.session_max_seconds
    async with two_sessions(api, base_url, mail, runtime) as (_envelope_id, first, _second):
        step = timedelta(minutes=25)
        moved = step
        while moved.total_seconds() < limit:
            with clock_moved(runtime, moved):
                assert (await first.get("/v1/signing/envelope")).status_code == 200
            moved += step
        with clock_moved(runtime, moved):
            expired = await first.get("/v1/signing/envelope")
        assert expired.status_code == 401 and expired.json()["code"] == "session_expired"


async def test_use_pushes_the_idle_deadline_back_written_once_a_minute(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    """A request 30 s after the last one writes nothing (the deadline stays); one 90 s after
    does. Idle for the whole idle time after that last write, the session is over."""
    idle = timedelta(minutes=runtime.settings.recipient_session_idle_minutes)
    async with two_sessions(api, base_url, mail, runtime) as (_envelope_id, first, _second):
        with clock_moved(runtime, timedelta(seconds=30)):
            assert (await first.get("/v1/signing/envelope")).status_code == 200
        # Not moved by the request at +30 s: idle time after the opening ends it.
        with clock_moved(runtime, idle + timedelta(seconds=1)):
            assert (await first.get("/v1/signing/envelope")).status_code == 401
    async with two_sessions(api, base_url, mail, runtime) as (_envelope_id, first, _second):
        with clock_moved(runtime, timedelta(seconds=90)):
            assert (await first.get("/v1/signing/envelope")).status_code == 200
        # Moved to +90 s: still alive just after the opening's idle deadline.
        with clock_moved(runtime, idle + timedelta(seconds=1)):
            assert (await first.get("/v1/signing/envelope")).status_code == 200
