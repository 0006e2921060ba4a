"""The stored evidence log: verified through the CLI, and a tampered row is found."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import text

from app.db import transaction
from app.runtime import Runtime
from tests.support import ApiClient
from tests.support.cli import cachet_env, run_cachet
from tests.workflow.support import approval_envelope, send


async def test_cachet_evidence_verify_finds_an_altered_event(
    api: ApiClient, runtime: Runtime, postgres_url: str, tmp_path: Path
) -> None:
    envelope, _ = await approval_envelope(api, approvers=2, tag=uuid.uuid4().hex[:8])
    await send(api, envelope["id"])
    env = cachet_env(database_url=postgres_url, data_dir=str(tmp_path))

    intact = await run_cachet("evidence", "verify", envelope["id"], env=env, cwd=tmp_path)
    assert intact.returncode == 0, intact.stderr
    assert "evidence chain intact" in intact.stdout

    async with transaction(runtime.sessions) as session:
        await session.execute(
            text(
                "UPDATE events SET data = jsonb_set(data, '{kind}', '\"signature\"') "
                "WHERE envelope_id = :id AND sequence = 1"
            ),
            {"id": envelope["id"]},
        )
    broken = await run_cachet("evidence", "verify", envelope["id"], env=env, cwd=tmp_path)
    assert broken.returncode == 1
    assert "broken at event 1" in broken.stderr

    unknown = await run_cachet("evidence", "verify", str(uuid.uuid4()), env=env, cwd=tmp_path)
    assert unknown.returncode == 1 and "No such envelope" in unknown.stderr
    garbage = await run_cachet("evidence", "verify", "nope", env=env, cwd=tmp_path)
    assert garbage.returncode == 1 and "not an envelope id" in garbage.stderr
