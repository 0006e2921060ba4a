"""New versions of a document: written by a PDF function in a worker thread, then stored in
the blob store under their digest.

PDF work (pyHanko) is CPU-bound and synchronous, so it runs off the event loop. The row
switches to the new version in the transaction that records the step, so a failed or retried
job leaves at most an unreferenced blob behind. Every version starts with the previous
version's exact bytes: nothing ever re-saves a file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from app.envelopes.models import Document
from app.runtime import Runtime
from app.signing.keys import Seal, platform_seal
from app.storage.blobs import BlobStore

PdfWrite = Callable[[Path, Path], None]
"""Reads the source file, writes the new version to the target file."""


def current_path(blobs: BlobStore, document: Document) -> Path:
    return blobs.path_of(document.current_sha256 or document.sha256)


def seal_of(runtime: Runtime) -> Seal:
    return platform_seal(runtime.seal)


async def new_version(blobs: BlobStore, source: Path, write: PdfWrite, prefix: str) -> str:
    """Run `write(source, target)` in a thread and store the result; returns its SHA-256."""
    target = blobs.scratch_path(prefix)
    try:
        return await asyncio.to_thread(_write_and_adopt, blobs, source, target, write)
    finally:
        target.unlink(missing_ok=True)


def _write_and_adopt(blobs: BlobStore, source: Path, target: Path, write: PdfWrite) -> str:
    # One thread hop for both: the new version is hashed while its pages are still cached.
    write(source, target)
    return blobs.adopt(target)
