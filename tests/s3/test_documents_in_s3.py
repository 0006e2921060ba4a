"""Uploads, signing and the orphan sweep over HTTP with CACHET_BLOB_URL=s3://…, and the gateway
stopped in the middle of an upload: a clean 503 problem, nothing half-stored."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import obstore

from app.config import Settings
from app.runtime import Runtime
from app.storage.s3 import S3BlobStore
from tests.signing.testpki import TestPki
from tests.support import ApiClient, make_pdf, padded_pdf
from tests.support.cli import cachet_env, run_cachet
from tests.support.polling import eventually
from tests.support.seaweedfs import ACCESS_KEY_ID, SECRET_ACCESS_KEY, SeaweedFS
from tests.support.sinks import MailSink
from tests.workflow.signing_support import (
    check_valid,
    sent_signature_envelope,
    sign,
    signature_png,
    wait_until_signed,
)
from tests.workflow.support import open_invitation


def _bucket(runtime: Runtime) -> S3BlobStore:
    assert isinstance(runtime.blobs, S3BlobStore)
    return runtime.blobs


async def _in_bucket(runtime: Runtime) -> set[str]:
    listed = obstore.list(_bucket(runtime).store)
    return {meta["path"] async for batch in listed for meta in batch}


def _content_url(envelope_id: str, document_id: str) -> str:
    return f"/v1/envelopes/{envelope_id}/documents/{document_id}/content"


async def test_an_upload_is_stored_in_the_bucket_under_its_digest(
    api: ApiClient, runtime: Runtime
) -> None:
    envelope = await api.envelope()
    pdf = padded_pdf(12 * 1024 * 1024)  # three parts of 5 MiB
    response = await api.upload(envelope["id"], pdf, filename="big.pdf")
    assert response.status_code == 201, response.text
    sha256 = hashlib.sha256(pdf).hexdigest()
    meta = await obstore.head_async(_bucket(runtime).store, sha256)
    assert meta["size"] == len(pdf) and str(meta["e_tag"]).strip('"').endswith("-3")

    # Served from the bucket once the local copy is gone.
    runtime.blobs.path_of(sha256).unlink()
    content = await api.get(_content_url(envelope["id"], response.json()["id"]))
    assert content.status_code == 200 and content.content == pdf


async def test_identical_uploads_are_stored_once(api: ApiClient, runtime: Runtime) -> None:
    pdf = make_pdf(2)
    sha256 = hashlib.sha256(pdf).hexdigest()
    for _ in range(2):
        envelope = await api.envelope()
        response = await api.upload(envelope["id"], pdf, filename="same.pdf")
        assert response.status_code == 201, response.text
    assert sha256 in await _in_bucket(runtime)
    assert sorted(await _in_bucket(runtime)).count(sha256) == 1


async def _complete(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, tag: str
) -> dict[str, Any]:
    """Sent, then signed by both signers and sealed; the local copies are dropped after send,
    so that the jobs fetch each version from the bucket."""
    envelope = await sent_signature_envelope(api, tag)
    shutil.rmtree(runtime.blobs.root)
    for index in range(2):
        async with open_invitation(base_url, mail, f"s{index}+{tag}@example.com") as signer:
            response = await sign(signer, signature_png())
            assert response.status_code in (200, 202), response.text
            await wait_until_signed(signer)
    return await eventually(
        lambda: api.get_envelope(envelope["id"]),
        lambda body: (
            body["status"] == "completed" and all(d["signed_sha256"] for d in body["documents"])
        ),
        within=90,
        what="the envelope did not complete",
    )


async def test_signing_jobs_work_from_the_bucket(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    runtime: Runtime,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    envelope = await _complete(api, base_url, mail, runtime, "s3signed")
    document = envelope["documents"][0]
    stored = await _in_bucket(runtime)
    assert {document["sha256"], document["current_sha256"], document["signed_sha256"]} <= stored
    evidence = await api.get(f"/v1/envelopes/{envelope['id']}/evidence")
    assert evidence.status_code == 200 and evidence.headers["x-content-sha256"] in stored
    pdf = (await api.get(_content_url(envelope["id"], document["id"]))).content
    await check_valid(pdf, test_pki, tmp_path, "signed.pdf", signatures=2)


async def test_cachet_blobs_sweep_removes_the_bucket_s_orphans_only(
    api: ApiClient, runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    envelope = await api.envelope()
    pdf = make_pdf(1)
    assert (await api.upload(envelope["id"], pdf, filename="kept.pdf")).status_code == 201
    orphan = await runtime.blobs.adopt(_scratch(runtime, b"no row refers to this"))
    assert orphan in await _in_bucket(runtime)

    # The real command, as an operator runs it; a negative grace period puts every blob past
    # it, whatever the clocks say.
    env = cachet_env(
        data_dir=str(settings.data_dir),
        database_url=str(settings.database_url),
        blob_url=str(settings.blob_url),
        s3_endpoint=str(settings.s3_endpoint),
        s3_region="us-east-1",
        s3_access_key_id=ACCESS_KEY_ID,
        s3_secret_access_key=SECRET_ACCESS_KEY,
    )
    swept = await run_cachet("blobs", "sweep", "--grace-seconds=-60", env=env, cwd=tmp_path)

    assert swept.returncode == 0, swept.stderr
    left = await _in_bucket(runtime)
    assert orphan not in left and hashlib.sha256(pdf).hexdigest() in left
    assert swept.stdout.startswith("removed ") and "removed 0 " not in swept.stdout


def _scratch(runtime: Runtime, data: bytes) -> Path:
    path = runtime.blobs.scratch_path("signed-")
    path.write_bytes(data)
    return path


async def test_the_gateway_stopped_mid_upload_is_a_503_and_nothing_is_stored(
    api: ApiClient, runtime: Runtime, seaweedfs: SeaweedFS
) -> None:
    envelope = await api.envelope()
    pdf = padded_pdf(6 * 1024 * 1024)
    sha256 = hashlib.sha256(pdf).hexdigest()

    async def body() -> AsyncIterator[bytes]:
        half = len(pdf) // 2
        yield pdf[:half]
        await asyncio.to_thread(seaweedfs.stop)
        yield pdf[half:]

    try:
        response = await api.post(
            f"/v1/envelopes/{envelope['id']}/documents",
            params={"filename": "cut.pdf"},
            content=body(),
            headers={"Content-Type": "application/pdf"},
        )
    finally:
        await asyncio.to_thread(seaweedfs.start)

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 503 and problem["code"] == "storage_unavailable"
    assert int(response.headers["retry-after"]) > 0
    after = await api.get_envelope(envelope["id"])
    assert after["documents"] == [] and after["size"]["used_bytes"] == 0
    assert sha256 not in await _in_bucket(runtime)
    assert not runtime.blobs.path_of(sha256).exists()
    assert list(runtime.blobs.tmp_dir.glob("upload-*")) == []
