"""Delivery attempts against real receivers: uvicorn on loopback, over HTTP and over TLS.

Targets name hosts under .test that no resolver knows (receiver.test), pinned to 127.0.0.1:
a request that arrives proves the sender connected to the checked address, not to a lookup.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from app.webhooks.sender import (
    AttemptResult,
    attempt_delivery,
    build_client,
    parse_retry_after,
    post_pinned,
)
from app.webhooks.signatures import delivery_headers, new_message_id, new_secret
from app.webhooks.ssrf import Target

LOOPBACK = IPv4Address("127.0.0.1")
SECRET = new_secret()
BODY = json.dumps({"type": "envelope.completed", "data": {"envelope_id": "env_1"}}).encode()


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A customer's endpoint that misbehaves on request: the path says how."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.port = 0  # set once serving
        self.closing = asyncio.Event()  # ends slow and endless answers at teardown
        self.app = Starlette(
            routes=[
                Route("/ok/{label}", self.ok, methods=["POST"]),
                Route("/status/{code:int}", self.status, methods=["POST"]),
                Route("/redirect", self.redirect, methods=["POST"]),
                Route("/internal", self.ok, methods=["GET", "POST"]),
                Route("/cookie", self.cookie, methods=["POST"]),
                Route("/slow", self.slow, methods=["POST"]),
                Route("/drip", self.drip, methods=["POST"]),
                Route("/endless", self.endless, methods=["POST"]),
            ]
        )

    def at(self, path: str) -> list[Received]:
        return [request for request in self.received if request.path == path]

    async def _record(self, request: Request) -> None:
        body = await request.body()
        self.received.append(Received(request.url.path, dict(request.headers), body))

    async def ok(self, request: Request) -> Response:
        await self._record(request)
        return PlainTextResponse("thanks")

    async def status(self, request: Request) -> Response:
        await self._record(request)
        code = request.path_params["code"]
        retry_after = request.query_params.get("retry_after")
        headers = {"retry-after": retry_after} if retry_after is not None else None
        return PlainTextResponse(f"status {code}", code, headers=headers)

    async def redirect(self, request: Request) -> Response:
        await self._record(request)
        return RedirectResponse("/internal", status_code=302)

    async def cookie(self, request: Request) -> Response:
        await self._record(request)
        response = PlainTextResponse("have a cookie")
        response.set_cookie("session", "secret")
        return response

    async def slow(self, request: Request) -> Response:
        await self._record(request)
        await self._wait_for_teardown(seconds=30)
        return PlainTextResponse("too late")

    async def drip(self, request: Request) -> Response:
        """Headers at once, then a byte every 0.2 s: no single read ever times out."""
        await self._record(request)

        async def bytes_slowly() -> AsyncIterator[bytes]:
            while not self.closing.is_set():
                yield b"."
                await self._wait_for_teardown(seconds=0.2)

        return StreamingResponse(bytes_slowly())

    async def endless(self, request: Request) -> Response:
        await self._record(request)

        async def forever() -> AsyncIterator[bytes]:
            yield b"a"  # so the first kilobyte ends in the middle of an "é"
            chunk = "é".encode() * 32 * 1024
            while not self.closing.is_set():
                yield chunk
                await asyncio.sleep(0)

        return StreamingResponse(forever())

    async def _wait_for_teardown(self, *, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), seconds)


@asynccontextmanager
async def serving(receiver: Receiver, tls: Pki | None = None) -> AsyncIterator[int]:
    """uvicorn on 127.0.0.1 and a free port (yielded) until the block ends; HTTPS with `tls`."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    config = uvicorn.Config(
        receiver.app,
        lifespan="off",
        log_level="critical",
        ssl_certfile=tls.cert_file if tls else None,
        ssl_keyfile=tls.key_file if tls else None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no start event)
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        receiver.closing.set()
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serving(receiver) as port:
        receiver.port = port
        yield receiver


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with build_client() as client:
        yield client


def pinned(url: str, *addresses: IPv4Address) -> Target:
    """What resolve_target would return had `url`'s host resolved to `addresses`."""
    parsed = httpx.URL(url)
    port = parsed.port or {"http": 80, "https": 443}[parsed.scheme]
    host = parsed.raw_host.decode()
    return Target(url, parsed.scheme, host, port, addresses or (LOOPBACK,))


def url_of(receiver: Receiver, path: str) -> str:
    return f"http://receiver.test:{receiver.port}{path}"


async def post(client: httpx.AsyncClient, target: Target, *, within: float = 5.0) -> AttemptResult:
    headers = delivery_headers(SECRET, new_message_id(), int(time.time()), BODY)
    return await post_pinned(client, target, headers, BODY, timeout=within)


async def test_a_2xx_succeeds_and_arrives_intact_at_the_pinned_address(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    url = url_of(receiver, "/ok/intact?tenant=1")
    headers = delivery_headers(SECRET, new_message_id(), int(time.time()), BODY)

    result = await post_pinned(client, pinned(url), headers, BODY, timeout=5)

    assert result.succeeded
    assert (result.status_code, result.error, result.response_excerpt) == (200, None, "thanks")
    assert result.retry_after_seconds is None
    [arrived] = receiver.at("/ok/intact")
    assert arrived.body == BODY
    assert arrived.headers["host"] == f"receiver.test:{receiver.port}"
    assert arrived.headers["user-agent"] == "Cachet-Webhooks/1"
    assert arrived.headers["content-type"] == "application/json"
    assert Webhook(SECRET).verify(arrived.body, arrived.headers)["type"] == "envelope.completed"


async def test_an_unreachable_first_address_falls_back_to_the_next(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    nobody_listens = IPv4Address("127.0.0.2")  # loopback too, but the receiver is not bound there
    target = pinned(url_of(receiver, "/ok/fallback"), nobody_listens, LOOPBACK)

    result = await post(client, target)

    assert result.succeeded
    assert len(receiver.at("/ok/fallback")) == 1


async def test_a_redirect_is_a_failure_and_is_not_followed(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    result = await post(client, pinned(url_of(receiver, "/redirect")))

    assert not result.succeeded
    assert result.status_code == 302
    assert result.error == "redirect not followed (302)"
    assert len(receiver.at("/redirect")) == 1
    assert receiver.at("/internal") == []


@pytest.mark.parametrize(
    ("code", "retry_after", "expected"),
    [
        (503, "7", 7.0),
        (429, "120", 120.0),
        (429, "86400", 3600.0),  # capped at an hour
        (503, "soon", None),
        (500, "7", None),  # only throttling answers are asked to wait
    ],
)
async def test_retry_after_on_throttling_answers(
    receiver: Receiver, client: httpx.AsyncClient, code: int, retry_after: str, expected: float
) -> None:
    result = await post(
        client, pinned(url_of(receiver, f"/status/{code}?retry_after={retry_after}"))
    )

    assert (result.status_code, result.error) == (code, f"HTTP {code}")
    assert result.retry_after_seconds == expected
    assert result.response_excerpt == f"status {code}"
    assert not result.gone


async def test_410_means_gone(receiver: Receiver, client: httpx.AsyncClient) -> None:
    result = await post(client, pinned(url_of(receiver, "/status/410")))
    assert result.gone
    assert not result.succeeded


async def test_a_slow_receiver_times_out_in_time(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    started = time.monotonic()
    async with asyncio.timeout(5):  # fail, rather than hang, if the limit is not kept
        result = await post(client, pinned(url_of(receiver, "/slow")), within=1.0)

    assert (result.status_code, result.error) == (None, "timeout")
    assert 1.0 <= time.monotonic() - started < 2.0
    assert 900 <= result.duration_ms < 2000


async def test_the_timeout_is_for_the_whole_attempt_not_each_read(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    started = time.monotonic()
    async with asyncio.timeout(5):  # fail, rather than hang, if the limit is not kept
        result = await post(client, pinned(url_of(receiver, "/drip")), within=1.0)

    assert (result.status_code, result.error) == (None, "timeout")
    assert time.monotonic() - started < 2.0


async def test_an_endless_body_is_cut_and_the_excerpt_is_a_kilobyte(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    result = await post(client, pinned(url_of(receiver, "/endless")), within=5.0)

    assert result.succeeded
    assert result.response_excerpt == "a" + "é" * 511  # 1023 bytes: the cut "é" is dropped
    assert result.duration_ms < 2000


async def test_a_refused_connection_is_a_result_not_an_exception(
    client: httpx.AsyncClient,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]

    result = await post(client, pinned(f"http://receiver.test:{closed_port}/hook"))

    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith("connect error: ")


async def test_cookies_set_by_one_receiver_are_not_sent_to_the_next(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    await post(client, pinned(url_of(receiver, "/cookie")))
    await post(client, pinned(url_of(receiver, "/ok/after-cookie")))

    [after] = receiver.at("/ok/after-cookie")
    assert "cookie" not in after.headers


async def test_attempt_delivery_refuses_a_private_address_before_connecting(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    url = f"http://127.0.0.1:{receiver.port}/ok/guarded"
    headers = delivery_headers(SECRET, new_message_id(), int(time.time()), BODY)

    refused = await attempt_delivery(
        client, url, headers, BODY, timeout=5, allow_http=True, allow_loopback=False
    )
    allowed = await attempt_delivery(
        client, url, headers, BODY, timeout=5, allow_http=True, allow_loopback=True
    )

    assert refused.status_code is None
    assert refused.error is not None
    assert refused.error.startswith("address_not_allowed: ")
    assert allowed.succeeded
    assert len(receiver.at("/ok/guarded")) == 1  # only the allowed attempt arrived


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("0", 0.0),
        (" 30 ", 30.0),
        ("-5", None),
        ("1.5", None),
        ("٣", None),  # a digit, but not an ASCII one
        ("Wed, 04 Nov 2026 10:02:00 GMT", 120.0),
        ("Wed, 04 Nov 2026 09:00:00 GMT", 0.0),  # in the past
        ("Thu, 05 Nov 2026 10:00:00 GMT", 3600.0),
        ("yesterday", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    now = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == seconds


# TLS: the connection goes to 127.0.0.1, the certificate names only receiver.test.


@dataclass(frozen=True)
class Pki:
    ca: x509.Certificate
    cert_file: Path
    key_file: Path

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        context.load_verify_locations(
            cadata=self.ca.public_bytes(serialization.Encoding.PEM).decode()
        )
        return context


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None = None,
    issuer_key: ec.EllipticCurvePrivateKey | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
    )
    if issuer is None:  # the CA
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), False)
    return builder.sign(issuer_key or key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = _certificate("Test CA", ca_key)
    leaf = _certificate("receiver.test", leaf_key, ca.subject, ca_key)
    directory = tmp_path_factory.mktemp("tls")
    (directory / "cert.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Pki(ca, directory / "cert.pem", directory / "key.pem")


async def test_tls_is_verified_against_the_original_name_not_the_address(pki: Pki) -> None:
    receiver = Receiver()
    async with (
        serving(receiver, pki) as port,
        build_client(verify=pki.client_context()) as client,
    ):
        good = await post(client, pinned(f"https://receiver.test:{port}/ok/tls"))
        # Same address and port, so a kept-alive connection would be reused were it kept:
        impostor = await post(client, pinned(f"https://impostor.test:{port}/ok/tls"))

    assert good.succeeded, good.error
    assert receiver.at("/ok/tls")[0].headers["host"] == f"receiver.test:{port}"
    assert impostor.status_code is None
    assert impostor.error is not None
    assert "certificate verify failed" in impostor.error
    assert len(receiver.at("/ok/tls")) == 1
