"""Documents: streamed upload under the envelope's budget, download, removal.

The upload runs two short transactions around the stream instead of one long one, so a slow
client never holds a database connection or the envelope's lock while its bytes arrive.
"""

from __future__ import annotations

import asyncio
import mimetypes
import uuid
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import FileResponse

from app.activity import Step
from app.api.deps import PrincipalDep, RuntimeDep, SenderStepDep, SessionDep
from app.api.problems import problems
from app.db import transaction
from app.envelopes import documents, service
from app.envelopes.documents import UploadedFile, envelope_too_large
from app.envelopes.models import Document, EnvelopeKind
from app.envelopes.schemas import DocumentOut
from app.envelopes.views import document_out
from app.errors import (
    BadRequest,
    Conflict,
    NotFound,
    UnsupportedDocument,
    UnsupportedMediaType,
    ValidationFailed,
)
from app.pdf.gate import PageGeometry, PdfInfo, PdfRejected
from app.pdf.render import (
    MAX_SCALE,
    MIN_SCALE,
    PageOutOfRange,
    UnrenderablePage,
    render_page_png,
)
from app.runtime import Runtime
from app.storage.blobs import StagedBlob, StagedBlobTooLarge
from app.tenants.service import Principal

router = APIRouter(prefix="/v1/envelopes/{envelope_id}/documents", tags=["documents"])

PDF_MEDIA_TYPE = "application/pdf"
UPLOAD_BODY = {
    "required": True,
    "description": "The file's bytes as the raw request body (not multipart).",
    "content": {
        PDF_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}
Filename = Annotated[
    str, Query(min_length=1, max_length=255, description="name shown to recipients")
]


class Version(StrEnum):
    original = "original"
    """As uploaded."""
    current = "current"
    """The newest version: with the signature fields once sent, then with each signature."""
    signed = "signed"
    """The final version with its archive timestamp (PAdES B-LTA), once the envelope completed."""


DOCUMENT_CONTENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        "description": "The bytes, with the media type recorded at upload",
    },
    # 503: with CACHET_BLOB_URL=s3://…, the store did not answer (Retry-After says when to retry).
    **problems(401, 404, 409, 503),
}


def version_sha256(document: Document, version: Version | None) -> str:
    """Which bytes a version names; without one, the signed file once there is one."""
    match version:
        case Version.original:
            return document.sha256
        case Version.signed:
            if document.signed_sha256 is None:
                raise Conflict(
                    "not_signed_yet",
                    "The signed version exists once every signer has signed.",
                )
            return document.signed_sha256
        case Version.current:
            return document.current_sha256 or document.sha256
    return document.signed_sha256 or document.current_sha256 or document.sha256


async def document_file(
    runtime: Runtime, document: Document, version: Version | None = None
) -> FileResponse:
    return await blob_file(
        runtime, version_sha256(document, version), document.content_type, document.filename
    )


async def blob_file(runtime: Runtime, sha256: str, media_type: str, filename: str) -> FileResponse:
    """A stored blob as a download, with its digest; never rendered as a page of ours."""
    return FileResponse(
        await runtime.blobs.local_path(sha256),
        media_type=media_type,
        filename=filename,
        headers={
            "X-Content-SHA256": sha256,
            # Uploaded bytes are never to be run as a page of ours, whatever their media type.
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@router.post(
    "",
    status_code=201,
    response_model=DocumentOut,
    operation_id="uploadDocument",
    openapi_extra={"requestBody": UPLOAD_BODY},
    responses=problems(400, 401, 404, 409, 413, 415, 422, 503),
)
async def upload_document(
    envelope_id: uuid.UUID,
    filename: Filename,
    request: Request,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    step: SenderStepDep,
) -> Response:
    """Stream a file into the envelope.

    Signature envelopes take PDFs only, judged by content. The envelope's documents may total
    `size.limit_bytes`; a larger upload is cut off with 413 and nothing of it is kept. When
    the document store (S3) does not answer: 503 `storage_unavailable`, and nothing is kept.
    """
    _check_filename(filename)
    limit = runtime.settings.envelope_size_limit_bytes
    async with transaction(runtime.sessions) as session:
        kind, budget = await documents.upload_budget(
            session, principal, envelope_id, limit_bytes=limit
        )
    declared = declared_length(request)
    if declared is not None and declared > budget.remaining_bytes:
        raise envelope_too_large(budget)
    try:
        staged = await runtime.blobs.stage(request.stream(), max_bytes=budget.remaining_bytes)
    except StagedBlobTooLarge:
        raise envelope_too_large(budget) from None
    try:
        uploaded = await _inspect(runtime, staged, kind, filename, request)
        document_out = await _record(runtime, step, principal, envelope_id, staged, uploaded, kind)
    finally:
        staged.discard()
    return Response(
        document_out.model_dump_json(),
        status_code=201,
        media_type="application/json",
        headers={"Location": f"/v1/envelopes/{envelope_id}/documents/{document_out.id}"},
    )


def _check_filename(filename: str) -> None:
    if any(ch in filename for ch in "/\\") or not filename.isprintable():
        raise ValidationFailed.at(
            "/filename", "a file name has no path separators or control characters"
        )


def declared_length(request: Request) -> int | None:
    """Content-Length, if the client sent one: lets an oversized body be refused unread."""
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise BadRequest("invalid_content_length", "Content-Length must be a whole number.")
    return int(raw)


async def _inspect(
    runtime: Runtime, staged: StagedBlob, kind: EnvelopeKind, filename: str, request: Request
) -> UploadedFile:
    if staged.size_bytes == 0:
        raise ValidationFailed.at("/", "the document is empty", code="empty_document")
    info: PdfInfo | None = None
    if kind is EnvelopeKind.signature:
        try:
            info, _ = await asyncio.gather(
                runtime.pdf_gate.check(staged.path), staged.make_durable()
            )
        except PdfRejected as rejected:
            raise gate_refusal(rejected) from None
    return UploadedFile(
        filename=filename,
        content_type=PDF_MEDIA_TYPE if info else _media_type(request, filename),
        size_bytes=staged.size_bytes,
        sha256=staged.sha256,
        page_count=info.page_count if info else None,
        pages=[_page_json(page) for page in info.pages] if info else None,
    )


def _page_json(page: PageGeometry) -> dict[str, object]:
    return {
        "width": page.width,
        "height": page.height,
        "rotation": page.rotation,
        "crop_box": list(page.crop_box),
    }


def gate_refusal(rejected: PdfRejected) -> UnsupportedDocument | UnsupportedMediaType:
    """The upload gate's refusal as a problem; validations answer with the same types."""
    if rejected.code == "not_a_pdf":
        return UnsupportedMediaType(rejected.code, rejected.detail)
    return UnsupportedDocument(rejected.code, rejected.detail)


def _media_type(request: Request, filename: str) -> str:
    declared = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if declared and declared != "application/x-www-form-urlencoded" and "/" in declared:
        return declared[:255]
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


async def _record(
    runtime: Runtime,
    step: Step,
    principal: Principal,
    envelope_id: uuid.UUID,
    staged: StagedBlob,
    uploaded: UploadedFile,
    kind: EnvelopeKind,
) -> DocumentOut:
    limit = runtime.settings.envelope_size_limit_bytes
    async with transaction(runtime.sessions) as session:
        document = await documents.record_document(
            session, step, principal, envelope_id, uploaded, limit_bytes=limit
        )
        await runtime.blobs.commit(staged)
    return document_out(document, kind, signer_ids=[])


@router.get(
    "/{document_id}/content",
    operation_id="getDocumentContent",
    response_class=FileResponse,
    responses=DOCUMENT_CONTENT_RESPONSES,
)
async def get_document_content(
    envelope_id: uuid.UUID,
    document_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    version: Annotated[
        Version | None,
        Query(description="default: `signed` once the envelope completed, else `current`"),
    ] = None,
) -> FileResponse:
    """The document's bytes, in the version asked for (409 `not_signed_yet` for `signed`
    before the envelope completed)."""
    envelope = await service.get_envelope(session, principal, envelope_id)
    return await document_file(runtime, service.find_document(envelope, document_id), version)


PageNumber = Annotated[int, Path(ge=1, description="1-based page number")]
PageScale = Annotated[
    float,
    Query(
        ge=MIN_SCALE,
        le=MAX_SCALE,
        description="pixels per point (1 = 72 dpi); the image is the page as displayed, "
        "so a stamp's box (points from the top-left) is at the same fractions of it",
    ),
]
DEFAULT_PAGE_SCALE = 1.5


def page_image_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"content": {"image/png": {}}, "description": "The page as displayed, as a PNG"},
        304: {"description": "The image named by If-None-Match (its ETag) is still the page"},
        **problems(*statuses),
    }


async def page_image(
    runtime: Runtime, document: Document, page: int, scale: float, request: Request
) -> Response:
    """The newest version's page, drawn by pdfium in the gate's capped workers (the file is
    untrusted); 304 when the browser already has it."""
    if document.page_count is None:
        raise Conflict("not_a_pdf", "Only PDF documents are shown page by page.")
    sha256 = version_sha256(document, None)
    # The image changes only with the version (each signature makes a new one): a browser
    # that has it asks again and is told 304, with no drawing.
    etag = f'"{sha256[:32]}-{page}-{scale:g}"'
    cache = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=cache)
    path = await runtime.blobs.local_path(sha256)
    try:
        rendered = await runtime.pdf_gate.run(render_page_png, str(path), page, scale)
    except PageOutOfRange:
        raise NotFound("page") from None
    except UnrenderablePage as error:
        raise UnsupportedDocument("damaged", str(error)) from None
    except PdfRejected as rejected:
        raise gate_refusal(rejected) from None
    return Response(
        rendered.png,
        media_type="image/png",
        headers={**cache, "X-Content-Type-Options": "nosniff"},
    )


@router.get(
    "/{document_id}/pages/{page}.png",
    operation_id="getDocumentPage",
    response_class=Response,
    responses=page_image_responses(401, 404, 409, 422, 503),
)
async def get_document_page(
    envelope_id: uuid.UUID,
    document_id: uuid.UUID,
    page: PageNumber,
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    request: Request,
    scale: PageScale = DEFAULT_PAGE_SCALE,
) -> Response:
    """A page of a PDF document as an image, for placing stamps on it (the sender's screens
    show these): the newest version. 409 `not_a_pdf` for other files; 404 `page_not_found`
    past the last page."""
    envelope = await service.get_envelope(session, principal, envelope_id)
    document = service.find_document(envelope, document_id)
    return await page_image(runtime, document, page, scale, request)


@router.delete(
    "/{document_id}",
    status_code=204,
    operation_id="deleteDocument",
    responses=problems(401, 404, 409),
)
async def delete_document(
    envelope_id: uuid.UUID,
    document_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    step: SenderStepDep,
) -> Response:
    """Remove a document; its bytes no longer count against the envelope's budget."""
    await documents.delete_document(session, step, principal, envelope_id, document_id)
    return Response(status_code=204)
