"""openapi/openapi.json must be exactly what the app serves."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from app.openapi import render

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_committed_spec_matches_the_app() -> None:
    assert SPEC.read_text() == render(), "run `make openapi` and commit openapi/openapi.json"


async def test_served_spec_is_the_committed_one(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        served = (await client.get("/openapi.json")).json()
    assert served == json.loads(SPEC.read_text())


def test_every_operation_has_an_id_and_documents_its_problems() -> None:
    spec = json.loads(SPEC.read_text())
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("operationId"), (method, path)
            # Everything under /v1 needs a key or a session, except exchanging a link for one.
            if path.startswith("/v1/") and path != "/v1/signing/sessions":
                assert "401" in operation["responses"], (method, path)
