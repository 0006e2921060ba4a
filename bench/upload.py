"""Upload benchmark: a 15 MB PDF into the running service against the in-process floor.

Floor, same file, same run: read it from disk, SHA-256 it, open it with pikepdf and count its
pages. Cachet: POST it over HTTP to a fresh envelope (streamed to disk, hashed, gated, stored,
recorded). Then 4 concurrent 15 MB uploads while the server's RSS is sampled.

    python bench/upload.py [--rounds 9] [--s3]

With --s3 the service keeps its documents in a SeaweedFS S3 gateway started on 127.0.0.1 (the
`weed` of the dev extra), as CACHET_BLOB_URL=s3://… would in production.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pikepdf
import psutil

from bench.service import RssSampler, RunningService, bare_endpoint, running_service
from bench.table import record
from tests.support.seaweedfs import ACCESS_KEY_ID, BUCKET, SECRET_ACCESS_KEY, SeaweedFS

MIB = 1024 * 1024
TARGET_BYTES = 15 * MIB - 64 * 1024  # leaves room for the PDF structure within the budget


def make_image_pdf(target_bytes: int) -> bytes:
    """Two pages, each showing an uncompressed image of random pixels (incompressible)."""
    pdf = pikepdf.new()
    side = int(((target_bytes // 2) / 3) ** 0.5)
    for _ in range(2):
        pdf.add_blank_page(page_size=(595.28, 841.89))
        pixels = os.urandom(side * side * 3)
        image = pdf.make_stream(pixels)
        image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
        image.Width = image.Height = side
        image.ColorSpace, image.BitsPerComponent = pikepdf.Name.DeviceRGB, 8
        page = pdf.pages[-1]
        page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
        page.Contents = pdf.make_stream(b"q 595 0 0 842 0 0 cm /Im0 Do Q")
    out = io.BytesIO()
    pdf.save(out, compress_streams=False)
    return out.getvalue()


def floor_once(path: Path) -> float:
    start = time.perf_counter()
    data = path.read_bytes()
    hashlib.sha256(data).hexdigest()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert len(pdf.pages) == 2
    return time.perf_counter() - start


async def upload_once(client: httpx.AsyncClient, data: bytes) -> float:
    envelope = await client.post(
        "/v1/envelopes", json={"kind": "signature", "sender": {"email": "bench@example.com"}}
    )
    envelope.raise_for_status()
    start = time.perf_counter()
    response = await client.post(
        f"/v1/envelopes/{envelope.json()['id']}/documents",
        params={"filename": "bench.pdf"},
        content=data,
        headers={"Content-Type": "application/pdf"},
    )
    elapsed = time.perf_counter() - start
    assert response.status_code == 201, response.text
    return elapsed


def gate_workers_rss(pid: int) -> int:
    children = psutil.Process(pid).children(recursive=True)
    return sum(c.memory_info().rss for c in children if "postgres" not in c.name())


async def bare_upload_once(client: httpx.AsyncClient, data: bytes) -> float:
    start = time.perf_counter()
    response = await client.post("/upload", content=data)
    elapsed = time.perf_counter() - start
    assert response.json()["size"] == len(data)
    return elapsed


async def measure(
    service: RunningService, bare_url: str, data: bytes, path: Path, rounds: int
) -> None:
    headers = {"Authorization": f"Bearer {service.api_key}"}
    async with (
        httpx.AsyncClient(base_url=service.url, headers=headers, timeout=120) as client,
        httpx.AsyncClient(base_url=bare_url, timeout=120) as bare,
    ):
        for _ in range(2):  # warm-up: gate workers, connection pools, page cache
            await upload_once(client, data)
            await bare_upload_once(bare, data)
            floor_once(path)
        floors, bares, uploads = [], [], []
        for _ in range(rounds):  # interleaved so drift hits every side alike
            floors.append(floor_once(path))
            bares.append(await bare_upload_once(bare, data))
            uploads.append(await upload_once(client, data))
        floor_ms = statistics.median(floors) * 1000
        bare_ms = statistics.median(bares) * 1000
        upload_ms = statistics.median(uploads) * 1000
        print(f"file: {len(data) / MIB:.2f} MiB PDF, {rounds} rounds, medians")
        print(f"floor (read + SHA-256 + pikepdf open):     {floor_ms:8.1f} ms")
        print(f"bare FastAPI endpoint (stream + SHA-256):  {bare_ms:8.1f} ms")
        print(f"cachet upload over HTTP:                   {upload_ms:8.1f} ms")
        print(
            f"ratio cachet / in-process floor:           {upload_ms / floor_ms:8.2f}x  (P3: <= 2)"
        )
        print(f"ratio cachet / bare HTTP endpoint:         {upload_ms / bare_ms:8.2f}x")
        ratio = upload_ms / floor_ms
        record(
            "P3",
            "15 MB upload",
            f"{floor_ms:.0f} ms",
            f"{upload_ms:.0f} ms",
            ratio,
            ratio <= 2,
        )

        idle = psutil.Process(service.pid).memory_info().rss
        with RssSampler(service.pid) as sampler:
            start = time.perf_counter()
            await asyncio.gather(*(upload_once(client, data) for _ in range(4)))
            wall = time.perf_counter() - start
        growth = (sampler.peak - idle) / MIB
        print(f"4 concurrent uploads: {wall * 1000:.0f} ms wall")
        print(
            f"server RSS idle {idle / MIB:.1f} MiB, peak {sampler.peak / MIB:.1f} MiB, "
            f"growth {growth:.1f} MiB  (target < 40)"
        )
        record(
            "P4",
            "4 x 15 MB uploads",
            f"{idle / MIB:.0f} MiB",
            f"+{growth:.1f} MiB",
            None,
            growth < 40,
        )
        print(f"PDF gate worker processes RSS now: {gate_workers_rss(service.pid) / MIB:.1f} MiB")


@contextlib.contextmanager
def blob_settings(folder: Path, *, s3: bool) -> Iterator[dict[str, str]]:
    """The service's CACHET_BLOB_URL settings: none (files), or a SeaweedFS gateway's."""
    if not s3:
        yield {}
        return
    (folder / "weed").mkdir()
    gateway = SeaweedFS(folder / "weed")
    try:
        gateway.start()
        yield {
            "CACHET_BLOB_URL": f"s3://{BUCKET}/bench",
            "CACHET_S3_ENDPOINT": gateway.endpoint,
            "CACHET_S3_REGION": "us-east-1",
            "CACHET_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "CACHET_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        }
    finally:
        gateway.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--s3", action="store_true", help="documents in a local S3 gateway")
    args = parser.parse_args()
    data = make_image_pdf(TARGET_BYTES)
    with tempfile.TemporaryDirectory() as tmp, blob_settings(Path(tmp), s3=args.s3) as env:
        path = Path(tmp) / "bench.pdf"
        path.write_bytes(data)
        with running_service(env=env) as service, bare_endpoint() as bare_url:
            asyncio.run(measure(service, bare_url, data, path, args.rounds))


if __name__ == "__main__":
    main()
