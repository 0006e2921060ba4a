"""Read benchmarks, P5 and P6, on one PostgreSQL that the bench starts.

P5: throughput of `GET /v1/envelopes/{id}` (3 documents, 3 recipients) against a bare FastAPI
endpoint answering one row through a raw asyncpg pool (bench/bare_select.py), same server,
same load generator, rounds interleaved. Target: Cachet >= 0.35x the floor.

P6: latency of the first page of `GET /v1/envelopes` (newest first, 20 per page) with 1k
envelopes in the tenant, then with 1M (bulk-copied in SQL from a real envelope). Target: p50
at 1M <= 1.5x p50 at 1k.

The load generator is a minimal HTTP/1.1 keep-alive client on raw asyncio streams, so that
the client's own CPU (httpx costs more than a bare endpoint) does not cap the floor.

    python -m bench.reads [--seconds 3] [--rounds 3] [--envelopes 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
import pikepdf

from bench.engine import postgres
from bench.service import RunningService, bare_endpoint, running_service
from bench.table import record

P5_TARGET = 0.35
P6_TARGET = 1.5
CONCURRENCY = 8
PAGE = "/v1/envelopes?limit=20"


class KeepAlive:
    """One HTTP/1.1 connection, one request at a time; answers with Content-Length only."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> KeepAlive:
        host, port = url.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def get(self, path: str, headers: bytes) -> int:
        self.writer.write(b"GET %s HTTP/1.1\r\nHost: bench\r\n%s\r\n" % (path.encode(), headers))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


async def throughput(url: str, path: str, headers: bytes, seconds: float) -> float:
    """Requests per second with CONCURRENCY connections for `seconds`; every answer a 200."""
    connections = [await KeepAlive.open(url) for _ in range(CONCURRENCY)]
    done = 0
    deadline = time.perf_counter() + seconds

    async def loop(connection: KeepAlive) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            status = await connection.get(path, headers)
            assert status == 200, f"{path}: {status}"
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in connections))
    elapsed = time.perf_counter() - start
    for connection in connections:
        connection.close()
    return done / elapsed


async def latencies(url: str, path: str, headers: bytes, count: int) -> list[float]:
    connection = await KeepAlive.open(url)
    timings = []
    for _ in range(count):
        start = time.perf_counter()
        assert await connection.get(path, headers) == 200
        timings.append(time.perf_counter() - start)
    connection.close()
    return timings


def small_pdf() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595.28, 841.89))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


async def full_envelope(service: RunningService) -> str:
    """A draft with 3 documents and 3 recipients, as P5 asks."""
    headers = {"Authorization": f"Bearer {service.api_key}"}
    async with httpx.AsyncClient(base_url=service.url, headers=headers, timeout=60) as client:
        body = {"kind": "signature", "name": "P5", "sender": {"email": "bench@example.com"}}
        envelope = (await client.post("/v1/envelopes", json=body)).json()["id"]
        for index in range(3):
            uploaded = await client.post(
                f"/v1/envelopes/{envelope}/documents",
                params={"filename": f"d{index}.pdf"},
                content=small_pdf(),
                headers={"Content-Type": "application/pdf"},
            )
            assert uploaded.status_code == 201, uploaded.text
            added = await client.post(
                f"/v1/envelopes/{envelope}/recipients",
                json={"email": f"r{index}@example.com", "first_name": f"R{index}"},
            )
            assert added.status_code == 201, added.text
    return str(envelope)


async def p5(
    service: RunningService, bare_url: str, envelope: str, args: argparse.Namespace
) -> None:
    auth = f"Authorization: Bearer {service.api_key}\r\n".encode()
    ours, floors = [], []
    await throughput(service.url, f"/v1/envelopes/{envelope}", auth, 1)  # warm-up
    await throughput(bare_url, f"/envelopes/{envelope}", b"", 1)
    for _ in range(args.rounds):
        floors.append(await throughput(bare_url, f"/envelopes/{envelope}", b"", args.seconds))
        ours.append(await throughput(service.url, f"/v1/envelopes/{envelope}", auth, args.seconds))
    floor, cachet = statistics.median(floors), statistics.median(ours)
    ratio = cachet / floor
    print(f"P5 GET /v1/envelopes/{{id}} (3 documents, 3 recipients), {CONCURRENCY} connections")
    print(f"  bare FastAPI + asyncpg one row:  {floor:8.0f} req/s  (rounds {_joined(floors)})")
    print(f"  cachet:                          {cachet:8.0f} req/s  (rounds {_joined(ours)})")
    print(f"  ratio {ratio:.2f}x (target >= {P5_TARGET})")
    record(
        "P5",
        "GET /v1/envelopes/{id} throughput",
        f"{floor:.0f} req/s",
        f"{cachet:.0f} req/s",
        ratio,
        ratio >= P5_TARGET,
    )


async def copy_envelopes(database_url: str, template: str, total: int) -> None:
    """Copies of the template envelope, every column kept but the id and the creation time
    (spread over the past, so the newest-first index has real work), up to `total`."""
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        have = await connection.fetchval(
            "SELECT count(*) FROM envelopes WHERE tenant_id = "
            "(SELECT tenant_id FROM envelopes WHERE id = $1)",
            template,
        )
        batch = 100_000
        while have < total:
            count = min(batch, total - have)
            await connection.execute(
                """
                INSERT INTO envelopes
                SELECT (jsonb_populate_record(NULL::envelopes, to_jsonb(e) || jsonb_build_object(
                    'id', gen_random_uuid(),
                    'created_at', now() - make_interval(secs => $2 + g)))).*
                FROM envelopes e, generate_series(1, $3) AS g
                WHERE e.id = $1
                """,
                template,
                have,
                count,
            )
            have += count
        await connection.execute("ANALYZE envelopes")
    finally:
        await connection.close()


async def p6(service: RunningService, database_url: str, envelope: str, total: int) -> None:
    auth = f"Authorization: Bearer {service.api_key}\r\n".encode()
    await copy_envelopes(database_url, envelope, 1_000)
    await latencies(service.url, PAGE, auth, 20)  # warm-up
    small = statistics.median(await latencies(service.url, PAGE, auth, 200))
    started = time.perf_counter()
    await copy_envelopes(database_url, envelope, total)
    print(
        f"P6 list, first page of 20: {total:,} envelopes made in "
        f"{time.perf_counter() - started:.0f} s"
    )
    await latencies(service.url, PAGE, auth, 20)
    large = statistics.median(await latencies(service.url, PAGE, auth, 200))
    ratio = large / small
    print(
        f"  p50 at 1k: {small * 1000:.1f} ms, at {total:,}: {large * 1000:.1f} ms, "
        f"ratio {ratio:.2f}x (target <= {P6_TARGET})"
    )
    record(
        "P6",
        f"list p50 at {total:,} vs 1k",
        f"{small * 1000:.1f} ms",
        f"{large * 1000:.1f} ms",
        ratio,
        ratio <= P6_TARGET,
    )


def _joined(values: list[float]) -> str:
    return " ".join(f"{value:.0f}" for value in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--envelopes", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["P5", "P6"], help="measure one target only")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cachet-reads-", dir="/tmp"))
    try:
        with (
            postgres(root) as database_url,
            running_service(root=root, env={"CACHET_DATABASE_URL": database_url}) as service,
            bare_endpoint("bench.bare_select", database_url) as bare_url,
        ):
            envelope = asyncio.run(full_envelope(service))
            if args.only in (None, "P5"):
                asyncio.run(p5(service, bare_url, envelope, args))
            if args.only in (None, "P6"):
                asyncio.run(p6(service, database_url, envelope, args.envelopes))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
