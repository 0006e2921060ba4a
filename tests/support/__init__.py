"""Test helpers: an authenticated HTTP client and small builders for common bodies."""

from __future__ import annotations

import io
import uuid
from typing import Any, Self

import httpx
import pikepdf

from app.db import transaction
from app.runtime import Runtime
from app.tenants.service import create_tenant

A4 = (595.28, 841.89)


class ApiClient(httpx.AsyncClient):
    tenant_key: str
    tenant_id: uuid.UUID

    @classmethod
    async def for_new_tenant(cls, base_url: str, runtime: Runtime) -> Self:
        async with transaction(runtime.sessions) as session:
            tenant, key = await create_tenant(session, name="test-tenant")
        client = cls(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        client.tenant_key = key
        client.tenant_id = tenant.id
        return client

    async def envelope(self, kind: str = "signature", **fields: Any) -> dict[str, Any]:
        body = {"kind": kind, "sender": {"email": "sender@example.com"}, **fields}
        response = await self.post("/v1/envelopes", json=body)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    async def upload(
        self, envelope_id: str, content: bytes, filename: str = "doc.pdf"
    ) -> httpx.Response:
        return await self.post(
            f"/v1/envelopes/{envelope_id}/documents",
            params={"filename": filename},
            content=content,
            headers={"Content-Type": "application/pdf"},
        )

    async def add_recipient(self, envelope_id: str, **fields: Any) -> dict[str, Any]:
        response = await self.post(f"/v1/envelopes/{envelope_id}/recipients", json=fields)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    async def get_envelope(self, envelope_id: str) -> dict[str, Any]:
        response = await self.get(f"/v1/envelopes/{envelope_id}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


def make_pdf(
    pages: int = 1,
    *,
    size: tuple[float, float] = A4,
    rotate: int = 0,
    crop_box: tuple[float, float, float, float] | None = None,
) -> bytes:
    """A small valid PDF; every page gets the same size, rotation and CropBox."""
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page(page_size=size)
    for page in pdf.pages:
        if rotate:
            page.obj.Rotate = rotate
        if crop_box is not None:
            page.obj.CropBox = pikepdf.Array(list(crop_box))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def padded_pdf(total_bytes: int) -> bytes:
    """A valid one-page PDF of exactly total_bytes: its content stream is one long comment."""
    filler = max(total_bytes - 600, 1)
    for _ in range(5):
        data = _pdf_with_comment(filler)
        if len(data) == total_bytes:
            return data
        filler += total_bytes - len(data)
    raise AssertionError(f"cannot build a PDF of exactly {total_bytes} bytes")


def _pdf_with_comment(filler: int) -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=A4)
    pdf.pages[0].obj.Contents = pdf.make_stream(b"%" + b"0" * filler + b"\n")
    out = io.BytesIO()
    pdf.save(out, compress_streams=False, deterministic_id=True)
    return out.getvalue()
