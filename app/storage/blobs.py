"""Content-addressed blob stores: the BlobStore protocol and its filesystem implementation.

Every store stages uploads and scratch files on local disk (the PDF gate and pyHanko work on
files) and names a blob by its SHA-256. The filesystem store renames finished files into place,
so a reader never sees half a blob and an existing blob is never overwritten; the S3 store
(app.storage.s3) keeps one of these as its local copy of the blobs in use.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import anyio

from app.files import make_private, private_folder

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class StagedBlobTooLarge(Exception):
    """The stream passed the byte limit; nothing of it is kept."""


@dataclass
class StagedBlob:
    """A fully received upload in a temporary file, with its size and digest."""

    path: Path
    size_bytes: int
    sha256: str
    durable: bool = False

    async def make_durable(self) -> None:
        """fsync off the event loop, so it can overlap with the PDF gate."""
        await anyio.to_thread.run_sync(_fsync, self.path)
        self.durable = True

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


class BlobStore(Protocol):
    """Where documents' bytes live. Blobs are immutable and named by their SHA-256."""

    @property
    def root(self) -> Path:
        """The local folder of blobs (for the S3 store: its local copies)."""

    @property
    def tmp_dir(self) -> Path:
        """The local folder of staged uploads and scratch files."""

    def path_of(self, sha256: str) -> Path:
        """Where a blob's local copy is or will be; local_path() makes sure it is there."""

    async def local_path(self, sha256: str) -> Path:
        """A local file with the blob's bytes, for the PDF gate, pyHanko and downloads."""

    async def stage(self, chunks: AsyncIterator[bytes], *, max_bytes: int) -> StagedBlob: ...

    def scratch_path(self, prefix: str) -> Path: ...

    async def commit(self, staged: StagedBlob) -> None:
        """Keep a staged file under its digest; identical bytes already stored are kept once."""

    async def adopt(self, path: Path) -> str:
        """Hash a finished local file and commit it; returns its SHA-256."""

    def sweep_tmp(self, *, older_than_seconds: float) -> list[str]: ...

    async def sweep(self, referenced: Iterable[str], *, older_than_seconds: float) -> list[str]:
        """Delete blobs no document refers to, once older than the grace period."""


class FilesystemBlobStore:
    """Blobs in a folder of the data directory (CACHET_BLOB_URL=file://…, the default)."""

    def __init__(self, root: Path, tmp_dir: Path) -> None:
        self.root = root
        self.tmp_dir = tmp_dir
        private_folder(root)
        private_folder(tmp_dir)

    def path_of(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def stage(self, chunks: AsyncIterator[bytes], *, max_bytes: int) -> StagedBlob:
        """Write a stream to a temporary file, hashing as it goes; memory stays at one chunk.

        Each network chunk (~64 KiB) is hashed and written to the page cache inline: that costs
        about 50 µs, far below any stall worth avoiding, while a worker-thread hop per batch
        measured 2.5 times slower on a 15 MB upload. The fsync, which can take milliseconds,
        is done off the loop by make_durable() or commit().
        Raises StagedBlobTooLarge as soon as more than max_bytes have arrived.
        """
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="upload-")
        path = Path(name)
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise StagedBlobTooLarge
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            # Synchronous on purpose: it must also run when the request is being cancelled.
            path.unlink(missing_ok=True)  # noqa: ASYNC240
            raise
        return StagedBlob(path=path, size_bytes=size, sha256=digest.hexdigest())

    def scratch_path(self, prefix: str) -> Path:
        """A fresh, empty temporary file beside the blobs, for a new version to be written to."""
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix=prefix)
        os.close(fd)
        return Path(name)

    async def local_path(self, sha256: str) -> Path:
        return self.path_of(sha256)

    async def adopt(self, path: Path) -> str:
        return await anyio.to_thread.run_sync(self.adopt_now, path)

    def adopt_now(self, path: Path) -> str:
        """Blocking: hash a finished file and move it into place; returns its SHA-256."""
        staged = staged_file(path)
        self.place(staged)
        return staged.sha256

    async def commit(self, staged: StagedBlob) -> None:
        self.place(staged)

    def place(self, staged: StagedBlob) -> Path:
        """Move a staged file into place under its digest; an existing blob is kept as is."""
        target = self.path_of(staged.sha256)
        if target.exists():
            staged.discard()
            # Refresh the mtime so the orphan sweep's grace period protects a re-used blob.
            os.utime(target)
            return target
        private_folder(target.parent)
        if not staged.durable:
            _fsync(staged.path)
        # A library may have written it (pyHanko opens its own files): private before it lands.
        make_private(staged.path)
        os.replace(staged.path, target)
        return target

    def sweep_tmp(self, *, older_than_seconds: float) -> list[str]:
        """Delete temporary files left by killed uploads and jobs: those unchanged for longer
        than the grace period (a file being written has a fresh mtime)."""
        cutoff = time.time() - older_than_seconds
        removed = []
        for path in self.tmp_dir.iterdir():
            with suppress(FileNotFoundError):  # finished (renamed or removed) meanwhile
                if path.is_file() and path.lstat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(path.name)
        return removed

    async def sweep(self, referenced: Iterable[str], *, older_than_seconds: float) -> list[str]:
        return await anyio.to_thread.run_sync(
            functools.partial(self.sweep_now, referenced, older_than_seconds=older_than_seconds)
        )

    def sweep_now(self, referenced: Iterable[str], *, older_than_seconds: float) -> list[str]:
        """Blocking: delete blobs no document refers to, once older than the grace period."""
        keep = set(referenced)
        cutoff = time.time() - older_than_seconds
        removed = []
        for path in self.root.glob("??/??/*"):
            if path.name not in keep and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed.append(path.name)
        return removed


async def store_bytes(blobs: BlobStore, data: bytes, *, prefix: str) -> str:
    """Write small bytes (a signature image) as a blob, off the event loop; returns the digest."""
    path = blobs.scratch_path(prefix)
    try:
        await anyio.to_thread.run_sync(path.write_bytes, data)
        return await blobs.adopt(path)
    finally:
        path.unlink(missing_ok=True)


def staged_file(path: Path) -> StagedBlob:
    """Blocking: a finished local file (a new version, an image) described as a staged blob."""
    return StagedBlob(path=path, size_bytes=path.stat().st_size, sha256=file_sha256(path))


def file_sha256(path: Path) -> str:
    """Blocking: the SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
