"""Slow, idle, vanished and too many clients, spoken to over raw sockets by a real `cachet
serve` with short limits; and X-Forwarded-For, which it believes from no one by default."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.runtime import Runtime
from tests.support.cli import ServeProcess, serving
from tests.support.polling import wait_until

HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 1.0
KEEPALIVE = 1
MAX_CONNECTIONS = 4
SLACK = 2.5  # a shared 2-core machine: the limits are checked to this precision
PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Service:
    process: ServeProcess
    data_dir: Path
    key: str

    @property
    def port(self) -> int:
        return int(self.process.base_url.rsplit(":", 1)[1])

    def client(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.AsyncClient(base_url=self.process.base_url, headers=headers, timeout=10)


@pytest.fixture(scope="module")
async def service(postgres_url: str, runtime: Runtime) -> AsyncIterator[Service]:
    """One `cachet serve` for the module (development, the test database, migrated by the
    session's app), with limits short enough to watch."""
    workdir = Path(tempfile.mkdtemp(prefix="cachet-http-", dir="/tmp"))
    data_dir = workdir / "data"
    try:
        async with serving(
            data_dir,
            log_name="serve",
            database_url=postgres_url,
            run_jobs="false",
            http_header_timeout_seconds=str(HEADER_TIMEOUT),
            http_body_timeout_seconds=str(BODY_TIMEOUT),
            http_keepalive_seconds=str(KEEPALIVE),
            http_max_connections=str(MAX_CONNECTIONS),
        ) as process:
            await process.wait_ready()
            key = (data_dir / "dev-api-key").read_text().strip()
            yield Service(process, data_dir, key)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- raw HTTP/1.1 ----------------------------------------------------------------------------


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, service: Service) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self, within: float) -> tuple[int, dict[str, str], bytes]:
        """Status, headers (lower-case names) and the Content-Length body of one response."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), within)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines if line)
        headers = {name.lower(): value for name, value in headers.items()}
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers, body

    async def closed_by_server(self, within: float) -> float:
        """Seconds until the server closed the connection (EOF or reset); fails after `within`."""
        started = time.monotonic()
        try:
            leftover = await asyncio.wait_for(self.reader.read(), within)
        except ConnectionResetError:
            leftover = b""
        except TimeoutError:
            raise AssertionError(f"the server kept the connection open for {within} s") from None
        assert leftover == b"", leftover
        return time.monotonic() - started

    def close(self) -> None:
        self.writer.close()


def request(method: str, path: str, *, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *_header_lines(headers or {})]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _header_lines(headers: dict[str, str]) -> list[str]:
    return [f"{name}: {value}" for name, value in headers.items()]


def authorized(service: Service, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {service.key}", **headers}


# --- idle and slow request heads -------------------------------------------------------------


async def test_a_connection_that_sends_nothing_is_closed(service: Service) -> None:
    connection = await Connection.open(service)
    try:
        waited = await connection.closed_by_server(within=HEADER_TIMEOUT + SLACK)
    finally:
        connection.close()
    assert waited >= HEADER_TIMEOUT - 0.5


async def test_an_idle_keep_alive_connection_is_closed(service: Service) -> None:
    connection = await Connection.open(service)
    try:
        await connection.send(request("GET", "/healthz"))
        status, headers, _ = await connection.response(within=10)
        assert status == 200
        assert "close" not in headers.get("connection", "")
        await connection.closed_by_server(within=KEEPALIVE + SLACK)
    finally:
        connection.close()


async def test_headers_sent_a_byte_at_a_time_are_cut_off(service: Service) -> None:
    """Slowloris: each byte comes in time to reset an idle timer, the head never ends."""
    connection = await Connection.open(service)

    async def trickle() -> None:
        await connection.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        with suppress(ConnectionError):
            for _ in range(200):
                await asyncio.sleep(0.2)
                await connection.send(b"X")

    trickling = asyncio.create_task(trickle())
    try:
        waited = await connection.closed_by_server(within=HEADER_TIMEOUT + SLACK)
    finally:
        trickling.cancel()
        connection.close()
    assert waited >= HEADER_TIMEOUT - 0.5


async def test_requests_in_time_on_one_connection_are_all_served(service: Service) -> None:
    """The deadline restarts after each response: a kept-alive connection in use stays open."""
    connection = await Connection.open(service)
    try:
        for _ in range(3):
            await connection.send(request("GET", "/healthz")[:20])
            await asyncio.sleep(HEADER_TIMEOUT / 4)
            await connection.send(request("GET", "/healthz")[20:])
            status, _, body = await connection.response(within=10)
            assert (status, json.loads(body)) == (200, {"status": "ok"})
            await asyncio.sleep(KEEPALIVE / 2)
    finally:
        connection.close()


# --- bodies that stop --------------------------------------------------------------------------


def assert_body_timeout(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 408, body
    assert headers["content-type"] == PROBLEM
    assert headers["connection"] == "close"
    problem = json.loads(body)
    assert (problem["code"], problem["status"]) == ("body_timeout", 408)
    assert problem["request_id"] == headers["x-request-id"]


async def test_a_json_body_shorter_than_its_content_length_gets_408(service: Service) -> None:
    connection = await Connection.open(service)
    try:
        head = authorized(service, **{"Content-Type": "application/json", "Content-Length": "100"})
        await connection.send(request("POST", "/v1/envelopes", headers=head) + b'{"kind": ')
        started = time.monotonic()
        assert_body_timeout(*await connection.response(within=BODY_TIMEOUT + SLACK))
        assert time.monotonic() - started >= BODY_TIMEOUT - 0.5
        await connection.closed_by_server(within=SLACK)
    finally:
        connection.close()


async def new_approval_envelope(service: Service) -> str:
    async with service.client() as client:
        body = {"kind": "approval", "sender": {"email": "sender@example.com"}}
        created = await client.post("/v1/envelopes", json=body)
        assert created.status_code == 201, created.text
        envelope_id: str = created.json()["id"]
        return envelope_id


def upload_head(service: Service, envelope_id: str, length: int) -> bytes:
    path = f"/v1/envelopes/{envelope_id}/documents?filename=notes.txt"
    headers = authorized(service, **{"Content-Type": "text/plain", "Content-Length": str(length)})
    return request("POST", path, headers=headers)


def temp_files(service: Service) -> list[str]:
    return sorted(path.name for path in (service.data_dir / "tmp").iterdir())


async def test_an_upload_cut_short_gets_408_and_keeps_nothing(service: Service) -> None:
    envelope_id = await new_approval_envelope(service)
    connection = await Connection.open(service)
    try:
        await connection.send(upload_head(service, envelope_id, 100_000) + b"x" * 30_000)
        assert_body_timeout(*await connection.response(within=BODY_TIMEOUT + SLACK))
    finally:
        connection.close()
    assert not any(name.startswith("upload-") for name in temp_files(service))
    async with service.client() as client:
        envelope = (await client.get(f"/v1/envelopes/{envelope_id}")).json()
    assert envelope["documents"] == []


async def test_an_aborted_upload_logs_one_line(service: Service) -> None:
    envelope_id = await new_approval_envelope(service)
    logged_before = service.process.output()
    connection = await Connection.open(service)
    await connection.send(upload_head(service, envelope_id, 100_000) + b"x" * 50_000)
    await asyncio.sleep(0.2)  # the server is reading the body
    connection.close()

    def logged_since() -> str:
        return service.process.output()[len(logged_before) :]

    await wait_until(
        lambda: "client left" in logged_since(), within=10, what=lambda: logged_since()
    )
    await asyncio.sleep(0.5)  # anything else it would log about it has been written by now
    about_it = [line for line in logged_since().splitlines() if "documents" in line]
    # One warning, and the request's own line: 499 (the client left), not a server error.
    assert len(about_it) == 2, logged_since()
    assert re.search(rf"client left .*POST /v1/envelopes/{envelope_id}/documents", about_it[0])
    assert "POST /v1/envelopes/{envelope_id}/documents 499" in about_it[1], about_it[1]
    assert "Traceback" not in logged_since() and "Exception" not in logged_since()
    assert not any(name.startswith("upload-") for name in temp_files(service))


# --- the connection cap ------------------------------------------------------------------------


async def test_a_request_beyond_the_connection_cap_gets_503(service: Service) -> None:
    async with AsyncExitStack() as idle:
        for _ in range(MAX_CONNECTIONS):
            held = await Connection.open(service)
            idle.callback(held.close)
        await asyncio.sleep(0.2)  # accepted by the server
        extra = await Connection.open(service)
        try:
            await extra.send(request("GET", "/healthz"))
            status, headers, body = await extra.response(within=5)
            await extra.closed_by_server(within=SLACK)
        finally:
            extra.close()
    assert status == 503, body
    assert headers["content-type"] == PROBLEM
    assert headers["retry-after"] == "1"
    assert json.loads(body)["code"] == "too_many_connections"

    async def served_again() -> bool:
        async with httpx.AsyncClient(base_url=service.process.base_url) as client:
            return (await client.get("/healthz")).status_code == 200

    await wait_until(served_again, within=5, what="served once the held connections closed")


# --- X-Forwarded-For -------------------------------------------------------------------------


async def test_x_forwarded_for_is_not_believed_by_default(service: Service) -> None:
    async with service.client() as client:
        created = await client.post(
            "/v1/envelopes",
            json={"kind": "approval", "sender": {"email": "sender@example.com"}},
            headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
        )
        assert created.status_code == 201, created.text
        events = await client.get(f"/v1/envelopes/{created.json()['id']}/events")
    recorded: list[Any] = [event["ip"] for event in events.json()["data"]]
    assert recorded == ["127.0.0.1"]
