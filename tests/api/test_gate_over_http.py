"""Issue 10's hostile files through the service's two doors to the PDF gate: the upload of a
signature envelope's document, and POST /v1/validations (signatures allowed, nothing else)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.runtime import Runtime
from tests.pdf import corpus, trust
from tests.pdf.trust import Build
from tests.support import ApiClient

REFUSED = [pytest.param(build, code, id=name) for name, build, code in trust.REFUSED]
REFUSED_ALSO_FOR_VALIDATION = [
    pytest.param(build, code, id=name)
    for name, build, code in trust.REFUSED
    if code != "already_signed"
]


def _stored(runtime: Runtime) -> set[Path]:
    return set(runtime.blobs.root.glob("??/??/*"))


def _staged(runtime: Runtime) -> list[Path]:
    return list(runtime.blobs.tmp_dir.glob("upload-*"))


async def _built(build: Build) -> bytes:
    # In a thread: pyHanko's synchronous API (the signed samples) runs its own event loop.
    return await asyncio.to_thread(build)


@pytest.mark.parametrize(("build", "code"), REFUSED)
async def test_upload_refuses_with_the_gate_code_and_keeps_nothing(
    api: ApiClient, runtime: Runtime, build: Build, code: str
) -> None:
    envelope = await api.envelope()
    stored_before = _stored(runtime)
    response = await api.upload(envelope["id"], await _built(build))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["type"]) == (code, f"urn:cachet:problem:{code}")
    assert (await api.get_envelope(envelope["id"]))["documents"] == []
    assert _stored(runtime) == stored_before and _staged(runtime) == []


@pytest.mark.parametrize(("build", "code"), REFUSED_ALSO_FOR_VALIDATION)
async def test_validation_refuses_the_same_files(
    api: ApiClient, runtime: Runtime, build: Build, code: str
) -> None:
    response = await api.post(
        "/v1/validations", content=await _built(build), headers={"Content-Type": "application/pdf"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert _staged(runtime) == []


@pytest.mark.parametrize(
    "build", [corpus.signed_by_pyhanko, corpus.signed_then_freed], ids=["signed", "freed"]
)
async def test_validation_still_takes_signed_files(api: ApiClient, build: Build) -> None:
    response = await api.post(
        "/v1/validations", content=await _built(build), headers={"Content-Type": "application/pdf"}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "build", [pytest.param(build, id=name) for name, build in trust.STILL_ACCEPTED]
)
async def test_upload_still_takes_the_near_misses(api: ApiClient, build: Build) -> None:
    envelope = await api.envelope()
    response = await api.upload(envelope["id"], await _built(build))
    assert response.status_code == 201, response.text
