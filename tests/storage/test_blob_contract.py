"""The storage contract every blob store keeps, run against both backends: files under a folder,
and S3 (a real SeaweedFS gateway on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

import obstore
import pytest

from app.errors import StorageUnavailable
from app.storage.blobs import BlobStore, FilesystemBlobStore, StagedBlobTooLarge, store_bytes
from app.storage.s3 import PART_BYTES, S3BlobStore, s3_store
from tests.support.cli import free_port
from tests.support.seaweedfs import SeaweedFS


async def _chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    local = FilesystemBlobStore(tmp_path / "blobs", tmp_path / "tmp")
    if request.param == "file":
        return local
    gateway: SeaweedFS = request.getfixturevalue("seaweedfs")
    return S3BlobStore(gateway.store(f"contract-{uuid.uuid4().hex}"), local)


def stored(store: BlobStore) -> set[str]:
    """The blobs the store itself holds: the bucket's keys, or the folder's files."""
    if isinstance(store, S3BlobStore):
        return {meta["path"] for batch in obstore.list(store.store) for meta in batch}
    return {path.name for path in store.root.glob("??/??/*")}


async def _commit(store: BlobStore, data: bytes) -> str:
    staged = await store.stage(_chunks(data), max_bytes=len(data))
    await store.commit(staged)
    assert not staged.path.exists()
    return staged.sha256


async def test_a_streamed_blob_is_stored_under_its_digest_and_read_back(store: BlobStore) -> None:
    data = os.urandom(3 * PART_BYTES // 2)
    sha256 = await _commit(store, data)
    assert sha256 == _sha256(data)
    assert stored(store) == {sha256}
    assert (await store.local_path(sha256)).read_bytes() == data
    assert list(store.tmp_dir.iterdir()) == []


async def test_past_the_limit_nothing_is_kept(store: BlobStore) -> None:
    with pytest.raises(StagedBlobTooLarge):
        await store.stage(_chunks(b"x" * 100_001), max_bytes=100_000)
    assert list(store.tmp_dir.iterdir()) == []
    assert stored(store) == set()


async def test_identical_bytes_are_kept_once(store: BlobStore) -> None:
    first = await _commit(store, b"the same contract")
    second = await store.adopt(_scratch_with(store, b"the same contract"))
    assert first == second
    assert stored(store) == {first}
    assert list(store.tmp_dir.iterdir()) == []


async def test_concurrent_puts_of_the_same_bytes_make_one_blob(store: BlobStore) -> None:
    data = os.urandom(PART_BYTES + 1000)
    digests = await asyncio.gather(*(_commit(store, data) for _ in range(4)))
    assert set(digests) == {_sha256(data)}
    assert stored(store) == {_sha256(data)}
    assert (await store.local_path(digests[0])).read_bytes() == data
    assert list(store.tmp_dir.iterdir()) == []


async def test_small_bytes_are_stored_too(store: BlobStore) -> None:
    sha256 = await store_bytes(store, b"\x89PNG a signature image", prefix="signature-image-")
    assert (await store.local_path(sha256)).read_bytes() == b"\x89PNG a signature image"


async def test_sweep_removes_unreferenced_blobs_past_the_grace_period_only(
    store: BlobStore,
) -> None:
    kept = await _commit(store, b"referenced")
    orphan = await _commit(store, b"orphan")

    assert await store.sweep({kept}, older_than_seconds=3600) == []
    assert stored(store) == {kept, orphan}

    # A negative grace period puts every blob past it, whatever the clocks say.
    assert await store.sweep({kept}, older_than_seconds=-60) == [orphan]
    assert stored(store) == {kept}
    assert (await store.local_path(kept)).read_bytes() == b"referenced"


async def test_a_missing_blob_is_file_not_found(store: BlobStore) -> None:
    with pytest.raises(FileNotFoundError):
        (await store.local_path(_sha256(b"never stored"))).read_bytes()


def test_what_is_not_a_digest_is_refused(store: BlobStore) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        store.path_of("../../etc/passwd")


def _scratch_with(store: BlobStore, data: bytes) -> Path:
    path = store.scratch_path("signed-")
    path.write_bytes(data)
    return path


# What only the S3 backend does.


@pytest.fixture
def s3(seaweedfs: SeaweedFS, tmp_path: Path) -> S3BlobStore:
    local = FilesystemBlobStore(tmp_path / "cache", tmp_path / "tmp")
    return S3BlobStore(seaweedfs.store(f"s3-{uuid.uuid4().hex}"), local)


async def test_large_blobs_go_up_in_parts(s3: S3BlobStore) -> None:
    data = os.urandom(3 * PART_BYTES)
    sha256 = await _commit(s3, data)
    meta = await obstore.head_async(s3.store, sha256)
    # A multipart object's ETag is the digest of its parts' digests, then "-<parts>".
    assert meta["size"] == len(data) and str(meta["e_tag"]).strip('"').endswith("-3")


async def test_the_local_copy_is_fetched_again_from_the_bucket(s3: S3BlobStore) -> None:
    data = os.urandom(200_000)
    sha256 = await _commit(s3, data)
    s3.path_of(sha256).unlink()
    assert (await s3.local_path(sha256)).read_bytes() == data
    assert list(s3.tmp_dir.iterdir()) == []


async def test_an_existing_object_is_not_sent_again(
    s3: S3BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha256 = await _commit(s3, b"already there")
    sent: list[str] = []
    real_put = obstore.put_async

    async def counting_put(*args: object, **kwargs: object) -> object:
        sent.append(str(args[1]))
        return await real_put(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(obstore, "put_async", counting_put)
    assert await _commit(s3, b"already there") == sha256
    assert sent == []


async def test_a_store_that_does_not_answer_is_a_503_and_keeps_nothing(tmp_path: Path) -> None:
    nobody = s3_store(
        "cachet",
        "",
        endpoint=f"http://127.0.0.1:{free_port()}",
        region="us-east-1",
        access_key_id="key",
        secret_access_key="secret",
    )
    store = S3BlobStore(nobody, FilesystemBlobStore(tmp_path / "cache", tmp_path / "tmp"))
    staged = await store.stage(_chunks(b"unsent"), max_bytes=100)
    with pytest.raises(StorageUnavailable) as refused:
        await store.commit(staged)
    staged.discard()
    assert refused.value.status == 503 and refused.value.code == "storage_unavailable"
    assert list(store.root.glob("??/??/*")) == [] and list(store.tmp_dir.iterdir()) == []
    with pytest.raises(StorageUnavailable):
        await store.local_path(_sha256(b"unsent"))


class _StopsGatewayWhenRead:
    """The staged file as obstore reads it, part by part; past `after` bytes the gateway stops,
    so that the multipart upload is cut between its parts."""

    def __init__(self, file: BinaryIO, gateway: SeaweedFS, *, after: int) -> None:
        self.file, self.gateway, self.after = file, gateway, after

    def read(self, size: int = -1) -> bytes:
        if self.file.tell() >= self.after and self.gateway.process is not None:
            self.gateway.stop()
        return self.file.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()


async def test_the_gateway_stopped_between_parts_leaves_no_object(
    seaweedfs: SeaweedFS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = S3BlobStore(
        seaweedfs.store(f"cut-{uuid.uuid4().hex}"),
        FilesystemBlobStore(tmp_path / "cache", tmp_path / "tmp"),
    )
    staged = await store.stage(_chunks(os.urandom(4 * PART_BYTES)), max_bytes=4 * PART_BYTES)
    real_put = obstore.put_async

    async def put_then_stop(target: Any, key: str, path: Path, **options: Any) -> Any:
        with path.open("rb") as file:
            cut = _StopsGatewayWhenRead(file, seaweedfs, after=PART_BYTES)
            return await real_put(target, key, cut, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(obstore, "put_async", put_then_stop)
    try:
        with pytest.raises(StorageUnavailable):
            await store.commit(staged)
    finally:
        staged.discard()
        await asyncio.to_thread(seaweedfs.start)
    assert seaweedfs.process is not None
    assert stored(store) == set()
    assert list(store.root.glob("??/??/*")) == []
