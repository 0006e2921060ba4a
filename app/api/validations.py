"""Validate a signed PDF: the file in, a report per signature out. Nothing is stored.

The body is streamed to a staged file under its own size limit (CACHET_VALIDATION_MAX_BYTES: a
signed file is larger than its upload, and the service must validate its own outputs), passed
through the upload gate with signatures allowed (the same page, object, bomb and encryption
limits and problem types as uploads), then validated by pyHanko in one of the gate's
resource-capped worker processes: diff analysis of a hostile file can be slow, and there it
cannot stall the event loop or take the service's memory with it. The staged file is deleted in
every case. When the file is a version of one of the caller's own signature envelopes, the
report names the envelope and what the file lacks of it (workflow/provenance.py).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field

from app.api.deps import PrincipalDep, RuntimeDep
from app.api.documents import declared_length, gate_refusal
from app.api.problems import problems
from app.db import transaction
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
from app.signing.validation_etsi import etsi_report
from app.storage.blobs import StagedBlob, StagedBlobTooLarge
from app.workflow.provenance import FileFacts, Provenance, reasons_against, recognise

router = APIRouter(prefix="/v1/validations", tags=["validations"])

T = TypeVar("T")

PDF_BODY = {
    "required": True,
    "description": "The PDF's bytes as the raw request body (not multipart).",
    "content": {
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}

Verdict = Literal["passed", "failed"]
RevocationMode = Literal["soft", "hard"]
PadesLevel = Literal["B-B", "B-T", "B-LT", "B-LTA"]
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
    pades_level: PadesLevel | None = Field(
        description="signatures: B-B (no timestamp), B-T (signature timestamp), B-LT (and the "
        "file carries revocation data for its chains), B-LTA (and a document timestamp after "
        "it); null for a document timestamp or a signature that could not be read"
    )
    revocation_data_embedded: bool = Field(
        description="the file holds revocation data (OCSP or CRL, in its DSS or in the "
        "signature) for every certificate below the root of the signer's chain and of its "
        "timestamp's"
    )


class EnvelopeMatchOut(ResponseBody):
    """The file is a version of a document of one of the caller's signature envelopes."""

    envelope_id: uuid.UUID
    document_id: uuid.UUID
    envelope_status: str = Field(description="the envelope's status now")
    file_version: Literal["latest", "later", "earlier", "diverged"] = Field(
        description="latest: the document's newest version (the signed one once completed); "
        "later: that version with revisions appended after it; earlier: cut back from it "
        "(revisions missing); diverged: shares only an earlier version with it"
    )
    signers: int
    signed: int = Field(description="signers who have signed, as the service recorded it")
    signed_in_file: int = Field(description="signers whose signature is in this file")
    missing: list[str] = Field(
        description="what the service made that this file lacks (signatures, revisions, the "
        "archive timestamp): the file was cut back; the verdict is then failed"
    )
    pending: list[str] = Field(description="signers who have not signed")


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
    revocation: RevocationMode = Field(
        description="soft: missing revocation data is not held against a certificate; hard: "
        "every certificate below a trust root needs revocation data in the file"
    )
    signatures: list[SignatureOut] = Field(description="in file order")
    unsigned_fields: list[str] = Field(
        description="signature fields with no signature: signatures yet to come, or revisions "
        "cut off the file"
    )
    envelope: EnvelopeMatchOut | None = Field(
        description="the caller's signature envelope this file is a version of, recognised by "
        "its original upload's SHA-256 among the file's revisions; null otherwise"
    )


ETSI_XML: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "With `Accept: application/xml`: the ETSI TS 119 102-2 validation report "
        "(pyHanko's AdES validation, long-term process, offline)",
        "content": {"application/xml": {"schema": {"type": "string"}}},
    }
}


@router.post(
    "",
    response_model=ValidationOut,
    operation_id="validatePdf",
    openapi_extra={"requestBody": PDF_BODY},
    responses={**ETSI_XML, **problems(401, 413, 415, 422)},
)
async def validate_pdf_route(
    request: Request,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    revocation: Annotated[
        RevocationMode,
        Query(
            description="hard: strict mode, revocation data required in the file for every "
            "certificate below a trust root (only B-LT and B-LTA signatures pass)"
        ),
    ] = "soft",
) -> ValidationOut | Response:
    """Validate every signature and document timestamp of a PDF.

    Offline: only the service's trust roots and the revocation data inside the file are used;
    by default missing revocation data is not held against a signature (soft-fail), revocation
    data that says revoked is; `?revocation=hard` requires it. The file is not kept. At most
    CACHET_VALIDATION_MAX_BYTES (413); the same input checks as a document upload apply (415
    `not_a_pdf`, 422 `encrypted`, `damaged`, `too_many_pages`, ...). A file that is a version of
    one of the caller's signature envelopes is named (`envelope`), and fails when it lacks
    signatures or revisions the service made. `Accept: application/xml` asks for the ETSI TS
    119 102-2 validation report instead.
    """
    limit = runtime.settings.validation_max_bytes
    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise _too_large(limit)
    try:
        staged = await runtime.blobs.stage(request.stream(), max_bytes=limit)
    except StagedBlobTooLarge:
        raise _too_large(limit) from None
    try:
        if _wants_xml(request.headers.get("accept", "")):
            xml = await _in_gate(runtime, staged, partial(etsi_report, revocation=revocation))
            return Response(xml, media_type="application/xml")
        report = await _in_gate(runtime, staged, partial(validate_pdf, revocation=revocation))
        match = await _recognise(runtime, principal.tenant_id, report, staged.size_bytes)
    finally:
        staged.discard()
    return _answer(report, match)


def _wants_xml(accept: str) -> bool:
    """The first media range of ours the client lists, in its order (no q-value weighing)."""
    for item in accept.split(","):
        media = item.split(";")[0].strip().lower()
        if media in ("application/xml", "text/xml"):
            return True
        if media in ("application/json", "application/*", "*/*"):
            return False
    return False


async def _in_gate(runtime: Runtime, staged: StagedBlob, work: Callable[..., T]) -> T:
    """work(path, trust_roots, now=...) in a gate worker, once the gate has let the file in."""
    if staged.size_bytes == 0:
        raise ValidationFailed.at("/", "the document is empty", code="empty_document")
    trust_roots = tuple(
        root.dump() for root in platform_seal(runtime.seal).trust_roots
    )  # DER pickles safely
    try:
        await runtime.pdf_gate.check(staged.path, allow_signatures=True)
        return await runtime.pdf_gate.run(
            partial(work, now=runtime.clock.now()), staged.path, trust_roots
        )
    except PdfRejected as rejected:
        raise gate_refusal(rejected) from None
    except UnreadablePdf as unreadable:
        raise UnsupportedDocument("damaged", str(unreadable)) from None


async def _recognise(
    runtime: Runtime, tenant_id: uuid.UUID, report: ValidationReport, size_bytes: int
) -> Provenance | None:
    facts = FileFacts(
        revision_digests=report.revision_digests,
        size_bytes=size_bytes,
        signed_fields=frozenset(s.field_name for s in report.signatures if s.kind == "signature"),
        has_document_timestamp=any(s.kind == "document_timestamp" for s in report.signatures),
    )
    # A short transaction of its own, after the validation: no connection held meanwhile.
    async with transaction(runtime.sessions) as session:
        return await recognise(session, runtime.blobs, tenant_id, facts)


def _answer(report: ValidationReport, match: Provenance | None) -> ValidationOut:
    against = reasons_against(match) if match is not None else []
    if against:
        report = dataclasses.replace(report, verdict="failed", reasons=(*report.reasons, *against))
    envelope = dataclasses.asdict(match) if match is not None else None
    return ValidationOut.model_validate({**dataclasses.asdict(report), "envelope": envelope})


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        "document_too_large",
        f"A PDF to validate may have at most {limit} bytes.",
        title="Document too large",
        limit_bytes=limit,
    )
