"""Scale out: two API processes and two job workers on one database, as on separate hosts.

Thirty approval envelopes are created and sent through either API process and approved through
the other, from the emailed links; every job runs in one of the two `cachet worker` processes
(the API processes run none: CACHET_RUN_JOBS=false). Every email and every webhook arrives
exactly once, and each envelope's webhooks arrive in the order of its events.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.signing.testpki import TestPki
from tests.support import ApiClient
from tests.support.cli import (
    ServeProcess,
    cachet_env,
    free_port,
    fresh_database,
    run_cachet,
    serving,
)
from tests.support.polling import wait_until
from tests.support.sinks import MailSink, WebhookReceiver, link_token, webhook_receiver
from tests.workflow.support import Recipient, approval_envelope, send

ENVELOPES = 30
SECRET_KEY = "scale-out-test-secret-key-shared-by-every-process"
KEY = re.compile(r"api key: (cachet_\S+)")
T = TypeVar("T")


def per_envelope_webhooks(approvers: int) -> list[str]:
    steps = ["recipient.invited", "recipient.opened", "recipient.approved"] * approvers
    return ["envelope.sent", *steps, "envelope.completed"]


class AttributedMailSink(MailSink):
    """Also notes which of the worker processes sent each message: the one holding the
    connection's client end, while the message arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.workers: dict[int, str] = {}
        self.senders: Counter[str] = Counter()

    async def handle_DATA(  # noqa: N802  (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        peer: Any = session.peer  # (host, port) on TCP
        self.senders[owner_of(int(peer[1]), self.workers)] += 1
        return await super().handle_DATA(server, session, envelope)


def owner_of(client_port: int, processes: dict[int, str]) -> str:
    """Which of these processes has the loopback TCP socket whose local port is client_port."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == client_port:
            inodes.add(f"socket:[{fields[9]}]")
    for pid, name in processes.items():
        with suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return name
    return "unknown"


@asynccontextmanager
async def attributed_smtp() -> AsyncIterator[tuple[AttributedMailSink, int]]:
    sink = AttributedMailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


async def test_two_api_processes_and_two_workers_send_everything_once_and_in_order(
    postgres_url: str, workdir: Path, test_pki: TestPki
) -> None:
    async with (
        fresh_database(postgres_url) as url,
        attributed_smtp() as (mail, smtp_port),
        webhook_receiver() as receiver,
    ):
        settings = {
            "database_url": url,
            "secret_key": SECRET_KEY,
            "smtp_host": "127.0.0.1",
            "smtp_port": str(smtp_port),
            "webhook_retry_schedule": "0.3s,0.3s,0.3s,0.3s,0.3s",
            "job_retry_max_delay_seconds": "0.5",
            "sweep_interval_seconds": "1",  # every worker asks for the sweep every second
            # The test's clients keep connections idle while the machine is busy: no close by
            # the server racing their next request (the 5 s default is not what is tested).
            "http_keepalive_seconds": "60",
            "http_header_timeout_seconds": "60",
            "pdf_gate_workers": "1",
            "signing_workers": "1",
            "signing_key_file": str(test_pki.seal_key_pem),
            "signing_cert_file": str(test_pki.seal_cert_pem),
            "signing_chain_file": str(test_pki.chain_pem),
            "tsa_url": test_pki.tsa_url,
            **{name: str(value) for name, value in test_pki.issuing_ca_settings().items()},
        }
        # One host: the four processes share the data directory (the blobs); every process
        # migrates at start, one at a time.
        data_dir = workdir / "data"
        async with (
            serving(data_dir, log_name="api-a", run_jobs="false", **settings) as api_a,
            serving(data_dir, log_name="api-b", run_jobs="false", **settings) as api_b,
            serving(
                data_dir,
                log_name="worker-a",
                command="worker",
                args=["--concurrency", "4"],
                **settings,
            ) as worker_a,
            serving(
                data_dir,
                log_name="worker-b",
                command="worker",
                args=["--concurrency", "4"],
                **settings,
            ) as worker_b,
        ):
            await asyncio.gather(
                api_a.wait_ready(within=180),
                api_b.wait_ready(within=180),
                worker_running(worker_a),
                worker_running(worker_b),
            )
            mail.workers = {worker_a.pid: "worker-a", worker_b.pid: "worker-b"}
            created = await run_cachet(
                "tenants", "create", "scale", env=cachet_env(**settings), cwd=workdir
            )
            found = KEY.search(created.stdout)
            assert created.returncode == 0 and found, created
            auth = {"Authorization": f"Bearer {found.group(1)}"}
            async with (
                ApiClient(base_url=api_a.base_url, headers=auth, timeout=60) as client_a,
                ApiClient(base_url=api_b.base_url, headers=auth, timeout=60) as client_b,
            ):
                clients = (client_a, client_b)
                endpoint = await client_a.post("/v1/webhook-endpoints", json={"url": receiver.url})
                assert endpoint.status_code == 201, endpoint.text
                receiver.secret = endpoint.json()["secret"]
                processes = (api_a, api_b, worker_a, worker_b)
                await drive(clients, mail, receiver, processes)


async def drive(
    clients: tuple[ApiClient, ApiClient],
    mail: AttributedMailSink,
    receiver: WebhookReceiver,
    processes: tuple[ServeProcess, ...],
) -> None:
    tag = uuid.uuid4().hex[:8]
    limit = asyncio.Semaphore(6)

    async def limited(work: Awaitable[T]) -> T:
        async with limit:
            return await work

    async def create(index: int) -> tuple[str, str, list[str]]:
        """Made through one API process, sent through the other."""
        sender = f"sender{index}-{tag}@example.com"
        envelope, approvers = await approval_envelope(
            clients[index % 2],
            approvers=1 + index % 2,
            tag=f"-{index}-{tag}",
            sender={"email": sender},
            sender_copy=True,
            distribute_to_signers=True,
        )
        await send(clients[(index + 1) % 2], envelope["id"])
        return envelope["id"], sender, [a["email"] for a in approvers]

    envelopes = await asyncio.gather(*(limited(create(i)) for i in range(ENVELOPES)))

    async def approve_all(index: int, approvers: list[str]) -> None:
        """Each approver in turn, from their invitation, through either API process."""
        for turn, address in enumerate(approvers):
            invitation = (await mail.wait_for(address, within=120))[0]
            base_url = str(clients[(index + turn) % 2].base_url)
            async with limit, Recipient(base_url=base_url, timeout=60) as recipient:
                opened = await recipient.open(link_token(invitation))
                assert opened.status_code == 201, opened.text
                approved = await recipient.approve()
                assert approved.status_code == 200, approved.text

    await asyncio.gather(
        *(approve_all(i, approvers) for i, (_, _, approvers) in enumerate(envelopes))
    )

    expected_mail: Counter[str] = Counter()
    for _, sender, approvers in envelopes:
        expected_mail[sender] += 1  # the completion (sender_copy)
        for address in approvers:
            expected_mail[address] += 2  # the invitation, then the completion
    expected_hooks = {
        envelope_id: per_envelope_webhooks(len(approvers))
        for envelope_id, _, approvers in envelopes
    }
    total_hooks = sum(map(len, expected_hooks.values()))

    def settled() -> bool:
        for process in processes:
            assert process.process.returncode is None, process.output()
        return (
            len(mail.messages) >= sum(expected_mail.values())
            and len(receiver.accepted()) >= total_hooks
        )

    await wait_until(
        settled,
        within=120,
        what=lambda: f"{len(mail.messages)} emails, {len(receiver.accepted())} webhooks",
    )
    await asyncio.sleep(3)  # a duplicate would come now, from a job run a second time

    received_mail = Counter(str(m["To"]).split("<")[-1].rstrip(">") for m in mail.messages)
    assert received_mail == expected_mail
    message_ids = [m["Message-ID"] for m in mail.messages]
    assert len(set(message_ids)) == len(message_ids)
    # Both workers took their share (neither API process runs jobs).
    assert set(mail.senders) == {"worker-a", "worker-b"}, mail.senders

    deliveries = receiver.received
    assert all(r.status == 200 and r.verified for r in deliveries)
    ids = [r.message_id for r in deliveries]
    assert len(set(ids)) == len(ids) == total_hooks, Counter(ids).most_common(3)
    for envelope_id, expected in expected_hooks.items():
        mine = [r.json for r in deliveries if r.json["data"].get("envelope_id") == envelope_id]
        assert [hook["type"] for hook in mine] == expected, envelope_id
        sequences = [hook["data"]["sequence"] for hook in mine]
        assert sequences == sorted(sequences), envelope_id

    for client in clients:
        listed = await client.get("/v1/envelopes", params={"limit": 100})
        assert listed.status_code == 200, listed.text
        statuses = Counter(e["status"] for e in listed.json()["data"])
        assert statuses == {"completed": ENVELOPES}


async def worker_running(worker: ServeProcess, within: float = 180) -> None:
    def running() -> bool:
        assert worker.process.returncode is None, worker.output()
        return "cachet worker: running" in worker.output()

    await wait_until(running, within=within, what=lambda: f"the worker:\n{worker.output()}")
