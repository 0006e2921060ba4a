"""Blobs in an S3-compatible object store (CACHET_BLOB_URL=s3://bucket/prefix), through obstore.

Uploads are staged on local disk exactly as with the filesystem store: the envelope's byte
budget is counted while the bytes arrive, and the PDF gate reads the file. A finished blob is
then sent to the bucket in parts (multipart) under prefix/<sha256>. A key that exists already
holds the same bytes, so they are not sent twice. The PDF gate, pyHanko and downloads need
files, so the blobs in use are also kept in a local folder, fetched from the bucket on demand;
that folder is a cache: the sweep empties it of what was not used for the grace period.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import anyio
import obstore
from obstore.exceptions import BaseError as ObjectStoreError
from obstore.store import S3Store

from app.errors import StorageUnavailable
from app.storage.blobs import FilesystemBlobStore, StagedBlob, staged_file

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
PART_BYTES = 5 * MIB
"""S3's smallest part; each upload holds at most PARTS_IN_FLIGHT of them in memory."""
PARTS_IN_FLIGHT = 2
"""Two parts in flight per upload keeps four concurrent 15 MB uploads within the memory budget
of P4 (< 40 MiB), while still overlapping reading the file with sending a part."""
RECENTLY_STORED = 600.0
"""Seconds: an existing object younger than this is not sent again. An older one is written
anew, which refreshes its date: the sweep's grace period then protects a blob that an upload
is adopting before its database row commits, as the filesystem store's utime does."""
RETRY_AFTER_SECONDS = 30
# A store that does not answer should give the client a prompt 503, not hold the request for
# the library's default of ten retries over three minutes.
RETRY = {
    "max_retries": 2,
    "retry_timeout": timedelta(seconds=10),
    "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=2)},
}


def s3_store(
    bucket: str,
    prefix: str,
    *,
    endpoint: str | None,
    region: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
) -> S3Store:
    """The bucket as obstore reaches it; with an endpoint, path-style requests (SeaweedFS,
    MinIO, Ceph), and plain http allowed only when the endpoint says http://."""
    config: dict[str, str] = {}
    for key, value in (
        ("endpoint", endpoint),
        ("region", region),
        ("access_key_id", access_key_id),
        ("secret_access_key", secret_access_key),
    ):
        if value:
            config[key] = value
    return S3Store(
        bucket,
        prefix=prefix or None,
        config=config,  # type: ignore[arg-type]  # a TypedDict of these same keys
        client_options={
            "allow_http": bool(endpoint and endpoint.startswith("http://")),
            "connect_timeout": timedelta(seconds=5),
            "timeout": timedelta(seconds=60),
        },
        retry_config=RETRY,  # type: ignore[arg-type]
    )


@contextmanager
def _unavailable_on_failure(action: str) -> Iterator[None]:
    """The store's errors as a 503 problem; a missing object stays FileNotFoundError."""
    try:
        yield
    except ObjectStoreError as error:
        logger.warning("object store failed to %s: %s", action, error)
        raise StorageUnavailable(
            "storage_unavailable",
            f"The document store could not {action}; nothing was kept. Try again later.",
            retry_after_seconds=RETRY_AFTER_SECONDS,
        ) from error


class S3BlobStore:
    """The BlobStore protocol over a bucket, with a local folder for staging and copies."""

    def __init__(self, store: S3Store, local: FilesystemBlobStore) -> None:
        self.store = store
        self.local = local

    @property
    def root(self) -> Path:
        return self.local.root

    @property
    def tmp_dir(self) -> Path:
        return self.local.tmp_dir

    def path_of(self, sha256: str) -> Path:
        return self.local.path_of(sha256)

    async def stage(self, chunks: AsyncIterator[bytes], *, max_bytes: int) -> StagedBlob:
        return await self.local.stage(chunks, max_bytes=max_bytes)

    def scratch_path(self, prefix: str) -> Path:
        return self.local.scratch_path(prefix)

    def sweep_tmp(self, *, older_than_seconds: float) -> list[str]:
        return self.local.sweep_tmp(older_than_seconds=older_than_seconds)

    async def commit(self, staged: StagedBlob) -> None:
        """Upload, then keep the file as the local copy: the signing jobs will want it."""
        await self.upload(staged.path, staged.sha256)
        await anyio.to_thread.run_sync(self.local.place, staged)

    async def adopt(self, path: Path) -> str:
        staged = await anyio.to_thread.run_sync(staged_file, path)
        await self.commit(staged)
        return staged.sha256

    async def upload(self, path: Path, sha256: str) -> None:
        """Send a file in parts, unless the bucket holds its bytes already. A failed multipart
        upload is never completed, so no object appears under the key."""
        self.path_of(sha256)  # refuses what is not a digest
        with _unavailable_on_failure("store the document"):
            if await self._stored_recently(sha256):
                return
            await obstore.put_async(
                self.store,
                sha256,
                path,
                chunk_size=PART_BYTES,
                max_concurrency=PARTS_IN_FLIGHT,
            )

    async def _stored_recently(self, sha256: str) -> bool:
        try:
            meta = await obstore.head_async(self.store, sha256)
        except FileNotFoundError:
            return False
        return time.time() - meta["last_modified"].timestamp() < RECENTLY_STORED

    async def local_path(self, sha256: str) -> Path:
        """The local copy, fetched first if missing; its date is refreshed, since the sweep
        drops copies unused for the grace period. FileNotFoundError if the bucket lacks it."""
        path = self.path_of(sha256)
        try:
            await anyio.to_thread.run_sync(os.utime, path)
        except FileNotFoundError:
            await self._download(sha256)
        return path

    async def _download(self, sha256: str) -> None:
        scratch = self.scratch_path("download-")
        try:
            staged = await self._fetch_into(sha256, scratch)
            if staged.sha256 != sha256:
                raise StorageUnavailable(
                    "storage_corrupt",
                    f"The document store returned other bytes for blob {sha256}.",
                    retry_after_seconds=RETRY_AFTER_SECONDS,
                )
            await anyio.to_thread.run_sync(self.local.place, staged)
        finally:
            scratch.unlink(missing_ok=True)  # also when cancelled

    async def _fetch_into(self, sha256: str, scratch: Path) -> StagedBlob:
        """Stream the object to a file, hashing as it goes; memory stays at one chunk."""
        digest = hashlib.sha256()
        size = 0
        with _unavailable_on_failure("read a document"):
            result = await obstore.get_async(self.store, sha256)
            with scratch.open("wb") as out:  # page-cache writes, as in stage()
                async for chunk in result.stream(min_chunk_size=MIB):
                    data = bytes(chunk)
                    digest.update(data)
                    out.write(data)
                    size += len(data)
        return StagedBlob(path=scratch, size_bytes=size, sha256=digest.hexdigest())

    async def sweep(self, referenced: Iterable[str], *, older_than_seconds: float) -> list[str]:
        """Delete the bucket's unreferenced blobs older than the grace period, and the local
        copies not used for as long (the bucket still has those that are referenced)."""
        keep = set(referenced)
        cutoff = time.time() - older_than_seconds
        removed: list[str] = []
        with _unavailable_on_failure("list the stored documents"):
            async for batch in obstore.list(self.store):
                removed += [
                    meta["path"]
                    for meta in batch
                    if meta["path"] not in keep and meta["last_modified"].timestamp() < cutoff
                ]
            if removed:
                await obstore.delete_async(self.store, removed)
        await self.local.sweep((), older_than_seconds=older_than_seconds)
        return removed
