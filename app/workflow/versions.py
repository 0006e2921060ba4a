"""New versions of a document: made by a PDF operation in a signing worker process, then
stored in the blob store under their digest.

pyHanko parses what it signs, and a large file's parse holds the interpreter long enough to
stall the service's event loop: so every operation that signs (a signature, a certification,
an archive timestamp, a sealed evidence PDF) runs in the runtime's signing pool, a capped
process pool whose workers hold the seal (app/signing/pool.py). The row switches to the new
version in the transaction that records the step, so a failed or retried job leaves at most an
unreferenced blob behind. Every version starts with the previous version's exact bytes:
nothing ever re-saves a file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from app.envelopes.models import Document
from app.runtime import Runtime
from app.signing.pool import with_seal
from app.storage.blobs import BlobStore

T = TypeVar("T")

SealedOperation = Callable[..., T]
"""Called in a signing worker as operation(source, target, seal=seal): reads the source file,
writes the new version to the target file. It must pickle: a module-level function, or a
functools.partial of one with plain values."""


async def current_path(blobs: BlobStore, document: Document) -> Path:
    return await blobs.local_path(document.current_sha256 or document.sha256)


async def signed_version(
    runtime: Runtime, source: Path, operation: SealedOperation[T], prefix: str
) -> tuple[str, T]:
    """Runs the operation in a signing worker, stores its output; its SHA-256 and what the
    operation returned."""
    target = runtime.blobs.scratch_path(prefix)
    try:
        result: T = await runtime.signing_pool.run(
            with_seal, runtime.settings, operation, str(source), str(target)
        )
        return await runtime.blobs.adopt(target), result
    finally:
        target.unlink(missing_ok=True)


async def run_in_signing_worker(runtime: Runtime, function: Callable[..., T], *args: Any) -> T:
    """Other PDF work best kept off the service's interpreter (rendering, reading signatures)."""
    result: T = await runtime.signing_pool.run(function, *args)
    return result
