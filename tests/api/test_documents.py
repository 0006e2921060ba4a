"""Document uploads over real HTTP: streaming, the envelope budget, the PDF gate, download."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.runtime import Runtime
from tests.pdf import corpus
from tests.support import A4, ApiClient, make_pdf, padded_pdf

LIMIT = 15_728_640


def _blob_files(runtime: Runtime) -> set[Path]:
    return set(runtime.blobs.root.glob("??/??/*"))


def _leftover_uploads(runtime: Runtime) -> list[Path]:
    return list(runtime.blobs.tmp_dir.glob("upload-*"))


async def test_pdf_upload_records_hash_pages_and_geometry(api: ApiClient) -> None:
    envelope = await api.envelope()
    pdf = make_pdf(3, rotate=90, crop_box=(10, 20, 510, 720))
    response = await api.upload(envelope["id"], pdf, filename="Outlook.pdf")
    assert response.status_code == 201, response.text
    document = response.json()
    assert response.headers["location"].endswith(document["id"])
    assert document["filename"] == "Outlook.pdf"
    assert document["content_type"] == "application/pdf"
    assert document["size_bytes"] == len(pdf)
    assert document["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert document["page_count"] == 3
    assert document["pages"] == [{"width": 700.0, "height": 500.0, "rotation": 90}] * 3
    assert document["stamps"] == "pending"
    envelope_now = await api.get_envelope(envelope["id"])
    assert envelope_now["size"] == {"used_bytes": len(pdf), "limit_bytes": LIMIT}
    content = await api.get(f"/v1/envelopes/{envelope['id']}/documents/{document['id']}/content")
    assert content.status_code == 200 and content.content == pdf
    assert content.headers["content-type"] == "application/pdf"
    assert "Outlook.pdf" in content.headers["content-disposition"]


async def test_approval_envelopes_take_any_file(api: ApiClient) -> None:
    envelope = await api.envelope("approval")
    payload = bytes(range(256)) * 10
    response = await api.post(
        f"/v1/envelopes/{envelope['id']}/documents",
        params={"filename": "budget.xlsx"},
        content=payload,
        headers={"Content-Type": "application/vnd.ms-excel"},
    )
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["content_type"] == "application/vnd.ms-excel"
    assert document["page_count"] is None and document["pages"] is None
    assert document["stamps"] is None
    content = await api.get(f"/v1/envelopes/{envelope['id']}/documents/{document['id']}/content")
    assert content.content == payload


async def test_signature_envelopes_refuse_what_is_not_a_pdf(
    api: ApiClient, runtime: Runtime
) -> None:
    envelope = await api.envelope()
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    response = await api.upload(envelope["id"], png, filename="scan.pdf")
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_a_pdf"
    assert (await api.get_envelope(envelope["id"]))["documents"] == []
    assert _leftover_uploads(runtime) == []


async def test_exact_budget_is_accepted_and_one_byte_more_refused(api: ApiClient) -> None:
    envelope = await api.envelope()
    first = await api.upload(envelope["id"], padded_pdf(LIMIT - 3000))
    assert first.status_code == 201, first.text
    too_much = await api.upload(envelope["id"], padded_pdf(3001))
    assert too_much.status_code == 413
    problem = too_much.json()
    assert (problem["used_bytes"], problem["limit_bytes"]) == (LIMIT - 3000, LIMIT)
    assert problem["code"] == "envelope_too_large"
    exact = await api.upload(envelope["id"], padded_pdf(3000))
    assert exact.status_code == 201, exact.text
    assert (await api.get_envelope(envelope["id"]))["size"]["used_bytes"] == LIMIT
    # Deleting a document frees its share of the budget.
    doc_id = exact.json()["id"]
    assert (
        await api.delete(f"/v1/envelopes/{envelope['id']}/documents/{doc_id}")
    ).status_code == 204
    assert (await api.get_envelope(envelope["id"]))["size"]["used_bytes"] == LIMIT - 3000
    assert (await api.upload(envelope["id"], padded_pdf(3000))).status_code == 201


async def test_one_upload_of_the_whole_budget(api: ApiClient) -> None:
    envelope = await api.envelope()
    over = await api.upload(envelope["id"], padded_pdf(LIMIT + 1))
    assert over.status_code == 413
    exact = await api.upload(envelope["id"], padded_pdf(LIMIT))
    assert exact.status_code == 201, exact.text


async def _raw_upload(
    base_url: str, path: str, key: str, *, headers: dict[str, str], body_chunks: int, chunk: bytes
) -> tuple[bytes, int]:
    """Send a body chunk by chunk while reading: returns (response head, bytes sent)."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}", f"Authorization: Bearer {key}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    chunked = headers.get("Transfer-Encoding") == "chunked"
    response = asyncio.create_task(reader.read(4096))
    sent = 0
    try:
        for _ in range(body_chunks):
            if response.done():
                break
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
            await writer.drain()
            sent += len(chunk)
        if chunked and not response.done():
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except ConnectionError:
        pass
    data = await asyncio.wait_for(response, 30)
    writer.close()
    return data, sent


async def test_declared_oversize_is_refused_before_the_body(
    api: ApiClient, base_url: str, runtime: Runtime
) -> None:
    envelope = await api.envelope()
    blobs_before = _blob_files(runtime)
    data, sent = await _raw_upload(
        base_url,
        f"/v1/envelopes/{envelope['id']}/documents?filename=big.pdf",
        api.tenant_key,
        headers={"Content-Length": str(20_000_000), "Content-Type": "application/pdf"},
        body_chunks=1,
        chunk=b"%PDF-1.7\n",
    )
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    assert b'"used_bytes":0' in data and b'"limit_bytes":15728640' in data
    assert sent <= 9
    assert _blob_files(runtime) == blobs_before and _leftover_uploads(runtime) == []


async def test_20_mb_without_content_length_is_cut_and_nothing_kept(
    api: ApiClient, base_url: str, runtime: Runtime
) -> None:
    envelope = await api.envelope()
    blobs_before = _blob_files(runtime)
    chunk = b"%PDF-1.7\n" + b"0" * (64 * 1024 - 9)
    data, _ = await _raw_upload(
        base_url,
        f"/v1/envelopes/{envelope['id']}/documents?filename=big.pdf",
        api.tenant_key,
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/pdf"},
        body_chunks=20_000_000 // len(chunk) + 1,
        chunk=chunk,
    )
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    envelope_now = await api.get_envelope(envelope["id"])
    assert envelope_now["documents"] == [] and envelope_now["size"]["used_bytes"] == 0
    assert _blob_files(runtime) == blobs_before and _leftover_uploads(runtime) == []


async def test_upload_checks_auth_and_ownership_before_the_body(
    api: ApiClient, other_api: ApiClient, base_url: str
) -> None:
    envelope = await api.envelope()
    for key, status in (("cachet_not_a_key", b"401"), (other_api.tenant_key, b"404")):
        data, _ = await _raw_upload(
            base_url,
            f"/v1/envelopes/{envelope['id']}/documents?filename=a.pdf",
            key,
            headers={"Content-Length": str(10_000_000), "Content-Type": "application/pdf"},
            body_chunks=1,
            chunk=b"%PDF-1.7\n",
        )
        assert data.startswith(b"HTTP/1.1 " + status), data[:200]


async def test_bad_filenames_and_bodies(api: ApiClient) -> None:
    envelope = await api.envelope("approval")
    url = f"/v1/envelopes/{envelope['id']}/documents"
    cases = [
        ({"filename": "../etc/passwd"}, b"x", 422, "/filename"),
        ({"filename": "a\x01b"}, b"x", 422, "/filename"),
        ({"filename": ""}, b"x", 422, "/filename"),
        ({}, b"x", 422, "/filename"),
        ({"filename": "empty.txt"}, b"", 422, "/"),
    ]
    for params, content, status, pointer in cases:
        response = await api.post(url, params=params, content=content)
        assert response.status_code == status, (params, response.text)
        assert response.json()["errors"][0]["pointer"] == pointer


async def test_concurrent_uploads_cannot_overshoot_the_budget(api: ApiClient) -> None:
    envelope = await api.envelope()
    share = padded_pdf(LIMIT // 2 + 1000)
    results = await asyncio.gather(*(api.upload(envelope["id"], share) for _ in range(3)))
    assert sorted(r.status_code for r in results) == [201, 413, 413]
    assert (await api.get_envelope(envelope["id"]))["size"]["used_bytes"] == len(share)


async def test_identical_content_is_stored_once(api: ApiClient, runtime: Runtime) -> None:
    envelope = await api.envelope()
    pdf = make_pdf(1, size=(300, 300))
    first = (await api.upload(envelope["id"], pdf)).json()
    second = (await api.upload(envelope["id"], pdf)).json()
    assert first["id"] != second["id"] and first["sha256"] == second["sha256"]
    assert runtime.blobs.path_of(first["sha256"]).read_bytes() == pdf


async def test_page_sizes_are_as_displayed(api: ApiClient) -> None:
    envelope = await api.envelope()
    document = (await api.upload(envelope["id"], make_pdf(1, size=A4))).json()
    assert document["pages"] == [{"width": 595.28, "height": 841.89, "rotation": 0}]


GATE_REFUSALS = [
    (corpus.plain_text, 415, "not_a_pdf"),
    (corpus.junk_before_header, 415, "not_a_pdf"),
    (corpus.truncated, 422, "damaged"),
    (corpus.startxref_past_eof, 422, "damaged"),
    (corpus.user_password_encrypted, 422, "encrypted"),
    (corpus.owner_password_encrypted, 422, "encrypted"),
    (corpus.open_action_javascript, 422, "active_content"),
    (corpus.launch_action_link, 422, "active_content"),
    (corpus.page_additional_actions, 422, "active_content"),
    (corpus.embedded_file, 422, "embedded_files"),
    (corpus.file_attachment_annotation, 422, "embedded_files"),
    (corpus.xfa_form, 422, "xfa"),
    (corpus.signed_by_pyhanko, 422, "already_signed"),
    (lambda: corpus.pages(501), 422, "too_many_pages"),
    (corpus.nested_flate_bomb, 422, "decompression_bomb"),
]


@pytest.mark.parametrize(
    ("build", "status", "code"),
    GATE_REFUSALS,
    ids=[code + "-" + str(i) for i, (_, _, code) in enumerate(GATE_REFUSALS)],
)
async def test_every_gate_refusal_reaches_the_client(
    api: ApiClient, runtime: Runtime, build: Callable[[], bytes], status: int, code: str
) -> None:
    envelope = await api.envelope()
    blobs_before = _blob_files(runtime)
    # In a thread: pyHanko's synchronous API (the signed sample) runs its own event loop.
    content = await asyncio.to_thread(build)
    response = await api.upload(envelope["id"], content)
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["code"] == code and problem["type"] == f"urn:cachet:problem:{code}"
    assert problem["detail"]
    assert (await api.get_envelope(envelope["id"]))["documents"] == []
    assert _blob_files(runtime) == blobs_before and _leftover_uploads(runtime) == []


async def test_page_limit_is_configurable(api: ApiClient, runtime: Runtime) -> None:
    assert runtime.settings.pdf_max_pages == 500
    envelope = await api.envelope()
    assert (await api.upload(envelope["id"], corpus.pages(500))).status_code == 201


async def test_downloads_are_never_rendered_as_ours(api: ApiClient) -> None:
    envelope = await api.envelope("approval")
    page = b"<script>alert(1)</script>"
    response = await api.post(
        f"/v1/envelopes/{envelope['id']}/documents",
        params={"filename": "page.html"},
        content=page,
        headers={"Content-Type": "text/html"},
    )
    content = await api.get(
        f"/v1/envelopes/{envelope['id']}/documents/{response.json()['id']}/content"
    )
    assert content.content == page
    assert content.headers["x-content-type-options"] == "nosniff"
    assert content.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert content.headers["content-disposition"].startswith("attachment")
