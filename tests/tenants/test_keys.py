"""API keys: high entropy, stored only as a hash, never readable back from the database."""

from __future__ import annotations

import base64
import hashlib

from sqlalchemy import text

from app.db import transaction
from app.runtime import Runtime
from app.tenants.keys import KEY_PREFIX, generate_api_key
from app.tenants.service import authenticate, create_tenant


def test_keys_carry_256_bits() -> None:
    keys = {generate_api_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert key.startswith(KEY_PREFIX)
        secret = key.removeprefix(KEY_PREFIX)
        assert len(base64.urlsafe_b64decode(secret + "=")) == 32


async def test_only_the_hash_is_stored(runtime: Runtime) -> None:
    async with transaction(runtime.sessions) as session:
        tenant, key = await create_tenant(session, name="hash-check")
    async with transaction(runtime.sessions) as session:
        rows = (
            await session.execute(
                text("SELECT row_to_json(k)::text FROM api_keys k WHERE tenant_id = :t"),
                {"t": tenant.id},
            )
        ).scalars()
        dumped = " ".join(rows)
        principal = await authenticate(session, api_key=key)
    secret = key.removeprefix(KEY_PREFIX)
    assert secret not in dumped and secret[:12] not in dumped
    assert hashlib.sha256(key.encode()).hexdigest() in dumped
    assert principal.tenant_id == tenant.id
