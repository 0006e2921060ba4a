"""Validate a signed PDF: the file in, a report per signature out. Nothing is stored.

The body is streamed to a staged file under the upload size limit, passed through the upload
gate with signatures allowed (the same page, object, bomb and encryption limits and problem
types as uploads), then validated by pyHanko in one of the gate's resource-capped worker
processes: diff analysis of a hostile file can be slow, and there it cannot stall the event
loop or take the service's memory with it. The staged file is deleted in every case.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import Field

from app.api.deps import PrincipalDep, RuntimeDep
from app.api.documents import declared_length, gate_refusal
from app.api.problems import problems
from app.errors import (
    PayloadTooLarge,
    UnsupportedDocument,
    ValidationFailed,
)
from app.pdf.gate import PdfRejected
from app.runtime import Runtime
from app.schemas import ResponseBody
from app.signing.keys import platform_seal
from app.signing.validation import UnreadablePdf, ValidationReport, validate_pdf
from app.storage.blobs import StagedBlob, StagedBlobTooLarge

router = APIRouter(prefix="/v1/validations", tags=["validations"])

PDF_BODY = {
    "required": True,
    "description": "The PDF's bytes as the raw request body (not multipart).",
    "content": {
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}

Verdict = Literal["passed", "failed"]
Coverage = Literal["UNCLEAR", "CONTIGUOUS_BLOCK_FROM_START", "ENTIRE_REVISION", "ENTIRE_FILE"]
ModificationLevel = Literal["NONE", "LTA_UPDATES", "FORM_FILLING", "ANNOTATIONS", "OTHER"]


class TimestampOut(ResponseBody):
    present: bool = Field(description="an RFC 3161 timestamp token is attached")
    valid: bool = Field(description="the token is intact and its signature verifies")
    trusted: bool = Field(description="the TSA's certificate chains to a trusted root")
    time: datetime | None = Field(description="the time the TSA certified")


class SignatureOut(ResponseBody):
    field_name: str
    kind: Literal["signature", "document_timestamp"]
    revision: int | None = Field(
        description="the revision that added it (0 is the original file; incremental updates "
        "count up)"
    )
    signer: str | None = Field(
        description="common name of the signing certificate (the TSA's for a timestamp)"
    )
    signing_time: datetime | None = Field(
        description="from the timestamp token when there is one, else the time the signer claims"
    )
    signing_time_source: Literal["timestamp", "claimed"] | None
    timestamp: TimestampOut
    intact: bool = Field(description="the signed bytes hash to the value that was signed")
    valid: bool = Field(description="the cryptographic signature verifies")
    trusted: bool = Field(
        description="the certificate chains to a trusted root, within its validity, not revoked"
    )
    revoked: bool
    coverage: Coverage | None = Field(
        description="how much of the file the signature covers: ENTIRE_FILE, or ENTIRE_REVISION "
        "when later revisions follow"
    )
    modification_level: ModificationLevel | None = Field(
        description="the most that later revisions changed, as judged by pyHanko's diff analysis"
    )
    docmdp_ok: bool | None = Field(
        description="those changes are allowed (by the signature's DocMDP/lock permissions)"
    )
    verdict: Verdict = Field(description="passed only if every check above holds")
    reasons: list[str] = Field(description="why it failed, in words; empty when passed")


class ValidationOut(ResponseBody):
    """The verdict on a PDF's signatures, validated offline against the service's trust roots."""

    verdict: Verdict = Field(
        description="passed only with at least one signature, every one passed, and nothing "
        "changed after the last one"
    )
    reasons: list[str] = Field(description="why the document failed; empty when passed")
    signature_count: int = Field(description="signatures and document timestamps found")
    modified_after_last_signature: bool = Field(
        description="bytes or revisions follow what the last signature covers (a revision that "
        "only adds validation data, a DSS, does not count)"
    )
    validated_at: datetime = Field(description="the time certificates were checked at")
    signatures: list[SignatureOut] = Field(description="in file order")


@router.post(
    "",
    response_model=ValidationOut,
    operation_id="validatePdf",
    openapi_extra={"requestBody": PDF_BODY},
    responses=problems(401, 413, 415, 422),
)
async def validate_pdf_route(
    request: Request, principal: PrincipalDep, runtime: RuntimeDep
) -> ValidationOut:
    """Validate every signature and document timestamp of a PDF.

    Offline: only the service's trust roots and the revocation data inside the file are used;
    missing revocation data is not held against a signature (soft-fail), revocation data that
    says revoked is. The file is not kept. The same size limit and input checks as a document
    upload apply (413, 415 `not_a_pdf`, 422 `encrypted`, `damaged`, `too_many_pages`, ...).
    """
    limit = runtime.settings.envelope_size_limit_bytes
    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise _too_large(limit)
    try:
        staged = await runtime.blobs.stage(request.stream(), max_bytes=limit)
    except StagedBlobTooLarge:
        raise _too_large(limit) from None
    try:
        report = await _validate(runtime, staged)
    finally:
        staged.discard()
    return ValidationOut.model_validate(report)


async def _validate(runtime: Runtime, staged: StagedBlob) -> ValidationReport:
    if staged.size_bytes == 0:
        raise ValidationFailed.at("/", "the document is empty", code="empty_document")
    trust_roots = tuple(
        root.dump() for root in platform_seal(runtime.seal).trust_roots
    )  # DER pickles safely
    try:
        await runtime.pdf_gate.check(staged.path, allow_signatures=True)
        check = partial(validate_pdf, now=runtime.clock.now())
        return await runtime.pdf_gate.run(check, staged.path, trust_roots)
    except PdfRejected as rejected:
        raise gate_refusal(rejected) from None
    except UnreadablePdf as unreadable:
        raise UnsupportedDocument("damaged", str(unreadable)) from None


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        "document_too_large",
        f"A PDF to validate may have at most {limit} bytes.",
        title="Document too large",
        limit_bytes=limit,
    )
