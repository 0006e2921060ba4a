"""The blob store: streamed staging with a byte limit, atomic commit, orphan sweep."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.storage.blobs import FilesystemBlobStore, StagedBlobTooLarge


async def _chunks(data: bytes, size: int = 10_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs", tmp_path / "tmp")


async def test_stage_hashes_and_counts(store: FilesystemBlobStore) -> None:
    data = os.urandom(250_000)
    staged = await store.stage(_chunks(data), max_bytes=len(data))
    assert staged.size_bytes == len(data)
    assert staged.sha256 == hashlib.sha256(data).hexdigest()
    assert staged.path.read_bytes() == data
    assert not staged.durable
    await staged.make_durable()
    assert staged.durable


async def test_stage_stops_past_the_limit_and_keeps_nothing(store: FilesystemBlobStore) -> None:
    with pytest.raises(StagedBlobTooLarge):
        await store.stage(_chunks(b"x" * 100_001), max_bytes=100_000)
    assert list(store.tmp_dir.iterdir()) == []


async def test_commit_is_content_addressed_and_never_overwrites(store: FilesystemBlobStore) -> None:
    first = await store.stage(_chunks(b"same bytes"), max_bytes=100)
    target = store.place(first)
    assert target == store.path_of(hashlib.sha256(b"same bytes").hexdigest())
    assert target.read_bytes() == b"same bytes" and not first.path.exists()
    inode = target.stat().st_ino
    second = await store.stage(_chunks(b"same bytes"), max_bytes=100)
    assert store.place(second) == target
    assert target.stat().st_ino == inode and not second.path.exists()


async def test_sweep_removes_only_old_unreferenced_blobs(store: FilesystemBlobStore) -> None:
    kept = store.place(await store.stage(_chunks(b"kept"), max_bytes=100))
    orphan = store.place(await store.stage(_chunks(b"orphan"), max_bytes=100))
    young = store.place(await store.stage(_chunks(b"young orphan"), max_bytes=100))
    old = time.time() - 7200
    for path in (kept, orphan):
        os.utime(path, (old, old))
    removed = await store.sweep({kept.name}, older_than_seconds=3600)
    assert removed == [orphan.name]
    assert kept.exists() and young.exists() and not orphan.exists()


def test_path_of_refuses_what_is_not_a_digest(store: FilesystemBlobStore) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        store.path_of("../../etc/passwd")


def test_sweep_tmp_removes_only_files_unchanged_for_the_grace_period(
    store: FilesystemBlobStore,
) -> None:
    killed_upload = store.scratch_path("upload-")
    killed_job = store.scratch_path("signed-")
    arriving = store.scratch_path("upload-")
    old = time.time() - 7200
    for path in (killed_upload, killed_job):
        os.utime(path, (old, old))

    removed = store.sweep_tmp(older_than_seconds=3600)

    assert sorted(removed) == sorted([killed_upload.name, killed_job.name])
    assert [path.name for path in store.tmp_dir.iterdir()] == [arriving.name]


def test_everything_the_store_creates_is_private(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "data" / "blobs", tmp_path / "data" / "tmp")
    written_by_a_library = store.tmp_dir / "signed-by-pyhanko.pdf"
    written_by_a_library.write_bytes(b"a new version")  # the process umask: 0644
    written_by_a_library.chmod(0o644)

    target = store.path_of(store.adopt_now(written_by_a_library))

    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    for folder in (
        tmp_path / "data",
        store.root,
        store.tmp_dir,
        target.parent,
        target.parent.parent,
    ):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
