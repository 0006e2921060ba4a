"""Workers against a scratch database and an SMTP server of the test's own: a worker killed
mid-send, a clean stop on SIGTERM, a transient SMTP refusal.

Each test gets a database of its own (created and migrated like tests/test_migrations.py), so
the session app's in-process worker never sees these jobs, and a second app instance serves
the HTTP API on it in-process (through httpx.ASGITransport).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import signal
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import IO, Any

import anyio
import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from app.config import Settings
from app.db import connect_raw, ensure_database_exists, transaction
from app.main import create_app
from app.migrations import upgrade_to_head
from app.notifications.models import Notification, NotificationStatus
from app.runtime import Runtime
from app.tenants.service import create_tenant
from tests.support import ApiClient
from tests.support.cli import CACHET, cachet_env, free_port
from tests.support.polling import wait_until
from tests.support.sinks import link_token
from tests.workflow.support import Recipient, approval_envelope, send

SECRET_KEY = "jobs-test-secret-key-shared-by-the-app-and-its-workers"


# --- an SMTP server that can stall, or refuse for a while ---------------------------------------


class Smtp:
    """aiosmtpd handler; it runs on the Controller's own thread and event loop.

    stall_first: the first RCPT is answered only after 30 s (its client is killed before then;
    losing the connection cancels the wait). soft_bounce: addresses refused with a 451 for as
    long as they are in the set.
    """

    def __init__(self, *, stall_first: bool = False) -> None:
        self.stall_first = stall_first
        self.stalled = threading.Event()
        self.soft_bounce: set[str] = set()
        self.refused: Counter[str] = Counter()
        self.messages: list[EmailMessage] = []

    async def handle_RCPT(  # noqa: N802  (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.stall_first and not self.stalled.is_set():
            self.stalled.set()
            await asyncio.sleep(30)
            return "451 4.4.2 timed out"
        if address.lower() in self.soft_bounce:
            self.refused[address.lower()] += 1
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802  (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        message = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def with_id(self, message_id: str) -> list[EmailMessage]:
        return [m for m in list(self.messages) if m["Message-ID"] == message_id]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in list(self.messages) if address.lower() in str(m["To"]).lower()]


@asynccontextmanager
async def smtp_server(handler: Smtp) -> AsyncIterator[int]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


# --- a scratch database, and a second app instance on it ----------------------------------------


@pytest.fixture
async def scratch_url(postgres_url: str) -> AsyncIterator[str]:
    name = f"cachet_jobs_{uuid.uuid4().hex[:12]}"
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    await ensure_database_exists(url)
    await anyio.to_thread.run_sync(upgrade_to_head, url)
    try:
        yield url
    finally:
        admin = make_url(url).set(database="postgres").render_as_string(hide_password=False)
        connection = await connect_raw(admin)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


@dataclass
class ScratchApp:
    runtime: Runtime
    api: ApiClient
    transport: httpx.ASGITransport

    def browser(self) -> Recipient:
        return Recipient(transport=self.transport, base_url="http://cachet.test", timeout=30)

    async def notification(self, envelope_id: str) -> Notification:
        async with transaction(self.runtime.sessions) as session:
            found = (
                await session.scalars(
                    select(Notification).where(Notification.envelope_id == uuid.UUID(envelope_id))
                )
            ).all()
        assert len(found) == 1, found
        return found[0]

    async def events(self, envelope_id: str, kind: str) -> list[dict[str, Any]]:
        response = await self.api.get(f"/v1/envelopes/{envelope_id}/events")
        assert response.status_code == 200, response.text
        return [e for e in response.json()["data"] if e["type"] == kind]

    async def job_statuses(self, entrypoint: str) -> list[str]:
        async with self.runtime.engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT status::text FROM pgqueuer WHERE entrypoint = :e ORDER BY id"),
                {"e": entrypoint},
            )
            return [row[0] for row in rows]


@asynccontextmanager
async def scratch_app(
    settings: Settings, url: str, data_dir: Path, **overrides: Any
) -> AsyncIterator[ScratchApp]:
    """The app on the scratch database, its lifespan entered, with a tenant of its own."""
    app = create_app(
        settings.model_copy(
            update={
                "database_url": url,
                "data_dir": data_dir,
                "secret_key": SECRET_KEY,
                "smtp_host": "127.0.0.1",
                **overrides,
            }
        )
    )
    async with app.router.lifespan_context(app):
        runtime: Runtime = app.state.runtime
        async with transaction(runtime.sessions) as session:
            _, key = await create_tenant(session, name="jobs-test")
        transport = httpx.ASGITransport(app=app)
        async with ApiClient(
            transport=transport,
            base_url="http://cachet.test",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        ) as api:
            yield ScratchApp(runtime, api, transport)


# --- `cachet worker` as a real process ----------------------------------------------------------


class WorkerProcess:
    def __init__(self, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        if self.process.returncode is not None:
            raise AssertionError(
                f"cachet worker exited with {self.process.returncode}:\n{self.output()}"
            )
        return "cachet worker: running" in self.output()


@asynccontextmanager
async def cachet_worker(name: str, workdir: Path, **settings: str) -> AsyncIterator[WorkerProcess]:
    """`cachet worker` with these settings; SIGKILLed at exit if still running."""
    log_path = workdir / f"worker-{name}.log"
    log: IO[bytes]
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            str(CACHET),
            "worker",
            env=cachet_env(data_dir=str(workdir / f"worker-{name}"), **settings),
            cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        yield WorkerProcess(process, log_path)
    finally:
        if process.returncode is None:
            with suppress(ProcessLookupError):
                process.kill()
            await process.wait()


# --- 4 and 5. a worker killed mid-send; another sends the email once; SIGTERM stops it ----------


async def test_a_worker_killed_mid_send_is_replaced_without_a_duplicate_email(
    settings: Settings, scratch_url: str, tmp_path: Path
) -> None:
    """R3. Worker A takes the invitation job and is SIGKILLed while the SMTP server holds its RCPT:
    A never sent DATA, so nothing was delivered. Once A's heartbeat is stale (3 s), worker B
    picks the job up again and the email arrives exactly once; SIGTERM then stops B cleanly."""
    smtp = Smtp(stall_first=True)
    async with (
        smtp_server(smtp) as smtp_port,
        scratch_app(
            settings,
            scratch_url,
            tmp_path / "app",
            smtp_port=smtp_port,
            run_jobs=False,
        ) as scratch,
    ):
        tag = uuid.uuid4().hex[:8]
        envelope, [approver] = await approval_envelope(scratch.api, approvers=1, tag=tag)
        envelope_id = envelope["id"]
        await send(scratch.api, envelope_id)
        notification = await scratch.notification(envelope_id)
        message_id = f"<{notification.id}@cachet>"
        assert await scratch.job_statuses("email.send") == ["queued"]

        worker_settings = {
            "database_url": scratch_url,
            "secret_key": SECRET_KEY,
            "smtp_host": "127.0.0.1",
            "smtp_port": str(smtp_port),
            "job_heartbeat_timeout_seconds": "3",
            "sweep_interval_seconds": "60",
        }
        async with cachet_worker("a", tmp_path, **worker_settings) as worker_a:

            def a_in_rcpt() -> bool:
                worker_a.running()  # fails at once, with A's output, should A have exited
                return smtp.stalled.is_set()

            await wait_until(a_in_rcpt, within=30, what="worker A to reach RCPT")
            # A is mid-job: the job is claimed, the email neither delivered nor marked sent.
            assert await scratch.job_statuses("email.send") == ["picked"]
            worker_a.process.send_signal(signal.SIGKILL)
            assert await asyncio.wait_for(worker_a.process.wait(), 10) == -signal.SIGKILL
        assert smtp.messages == []
        assert (await scratch.notification(envelope_id)).status is NotificationStatus.pending

        async with cachet_worker("b", tmp_path, **worker_settings) as worker_b:
            await wait_until(
                lambda: bool(smtp.with_id(message_id)),
                within=30,
                what=lambda: f"the invitation from worker B\n{worker_b.output()}",
            )

            async def marked_sent() -> bool:
                sent = await scratch.notification(envelope_id)
                return sent.status is NotificationStatus.sent

            await wait_until(marked_sent, within=10, what="the notification marked sent")

            async def job_gone() -> bool:
                return await scratch.job_statuses("email.send") == []

            await wait_until(job_gone, within=10, what="the job logged as done")
            # Longer than the heartbeat timeout: a second run would have had its chance.
            await asyncio.sleep(4)
            assert len(smtp.with_id(message_id)) == 1
            assert len(smtp.to(approver["email"])) == 1

            sent = await scratch.notification(envelope_id)
            assert (sent.status, sent.attempts, sent.last_error) == (
                NotificationStatus.sent,
                1,
                None,
            )
            events = await scratch.events(envelope_id, "email.sent")
            assert [e["data"]["notification_id"] for e in events] == [str(notification.id)]
            # B signed the link with the same secret as the app: the link opens the envelope.
            async with scratch.browser() as browser:
                opened = await browser.open(link_token(smtp.with_id(message_id)[0]))
                assert opened.status_code == 201, opened.text

            # 5. SIGTERM: the worker stops cleanly, exit code 0, within a few seconds.
            await wait_until(worker_b.running, within=5, what="worker B to say it runs")
            worker_b.process.send_signal(signal.SIGTERM)
            try:
                code = await asyncio.wait_for(worker_b.process.wait(), 10)
            except TimeoutError:
                raise AssertionError(
                    f"worker B still running 10 s after SIGTERM:\n{worker_b.output()}"
                ) from None
            assert code == 0, worker_b.output()
            assert "cachet worker: stopped" in worker_b.output()


# --- 6. a transient SMTP refusal is retried; other envelopes go on meanwhile --------------------


async def test_a_transient_smtp_refusal_is_retried_and_blocks_nothing(
    settings: Settings, scratch_url: str, tmp_path: Path
) -> None:
    smtp = Smtp()
    tag = uuid.uuid4().hex[:8]
    async with (
        smtp_server(smtp) as smtp_port,
        scratch_app(
            settings,
            scratch_url,
            tmp_path / "app",
            smtp_port=smtp_port,
            run_jobs=True,
            # Retries are 0.25-0.5 s apart: enough attempts to outlast the refusals below.
            job_max_attempts=30,
        ) as scratch,
    ):
        greylisted, [slow] = await approval_envelope(scratch.api, approvers=1, tag=f"g{tag}")
        other, [fast] = await approval_envelope(scratch.api, approvers=1, tag=f"o{tag}")
        smtp.soft_bounce.add(slow["email"].lower())
        await send(scratch.api, greylisted["id"])
        await send(scratch.api, other["id"])

        # While the first invitation is refused (and retried), the other one goes out.
        await wait_until(
            lambda: bool(smtp.to(fast["email"])) and smtp.refused[slow["email"].lower()] >= 2,
            within=20,
            what="the other invitation delivered and two refusals of the first",
        )

        async def two_attempts_counted() -> bool:
            return (await scratch.notification(greylisted["id"])).attempts >= 2

        await wait_until(two_attempts_counted, within=10, what="two attempts counted")
        pending = await scratch.notification(greylisted["id"])
        assert pending.status is NotificationStatus.pending
        assert pending.last_error is not None and "451" in pending.last_error
        assert smtp.to(slow["email"]) == []

        smtp.soft_bounce.clear()
        await wait_until(
            lambda: bool(smtp.to(slow["email"])), within=20, what="the retried invitation"
        )

        async def marked_sent() -> bool:
            sent = await scratch.notification(greylisted["id"])
            return sent.status is NotificationStatus.sent

        await wait_until(marked_sent, within=10, what="the notification marked sent")
        sent = await scratch.notification(greylisted["id"])
        assert sent.attempts == smtp.refused[slow["email"].lower()] + 1
        assert len(smtp.to(slow["email"])) == 1
        assert len(await scratch.events(greylisted["id"], "email.sent")) == 1
        assert await scratch.events(greylisted["id"], "email.failed") == []

        # And the workflow goes on: the approver follows the link and the envelope completes.
        async with scratch.browser() as browser:
            opened = await browser.open(link_token(smtp.to(slow["email"])[0]))
            assert opened.status_code == 201, opened.text
            approved = await browser.approve("ok")
            assert approved.status_code == 200, approved.text
        final = await scratch.api.get_envelope(greylisted["id"])
        assert final["status"] == "completed"
