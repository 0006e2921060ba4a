"""The periodic sweep, run by the service's own worker (every second in the tests)."""

from __future__ import annotations

import os
import time

from app.runtime import Runtime
from tests.support.polling import wait_until


async def test_the_sweep_removes_temporary_files_of_killed_uploads_and_jobs(
    runtime: Runtime,
) -> None:
    tmp = runtime.settings.tmp_dir
    killed = [runtime.blobs.scratch_path(prefix) for prefix in ("upload-", "evidence-")]
    old = time.time() - 2 * 3600  # CACHET_TMP_MAX_AGE_SECONDS is an hour in the tests
    for path in killed:
        os.utime(path, (old, old))
    arriving = runtime.blobs.scratch_path("upload-")
    try:
        await wait_until(
            lambda: not any(path.exists() for path in killed),
            within=15,
            what=lambda: f"still in {tmp}: {sorted(p.name for p in tmp.iterdir())}",
        )
        assert arriving.exists()  # younger than the grace period: perhaps still being written
    finally:
        arriving.unlink(missing_ok=True)
