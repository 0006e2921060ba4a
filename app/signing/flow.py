"""Signature envelopes in the workflow: fields at send, one job per signer, sealing at the end.

PDF work (pyHanko) is CPU-bound and synchronous, so it runs in a worker thread while the event
loop keeps serving requests. Each new version of a document is written to a scratch file, then
moved into the blob store under its digest; the row switches to it in the same transaction that
records the step, so a failed or retried job leaves at most an unreferenced blob behind.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import transaction
from app.envelopes.models import Document, Envelope, EnvelopeStatus, Recipient, RecipientStatus
from app.envelopes.rules import display_box_to_user_space
from app.envelopes.service import box_of, pages_of, recipient_email
from app.envelopes.states import ACTIONABLE_RECIPIENT
from app.evidence.service import SYSTEM, Actor
from app.runtime import Runtime
from app.signing.evidence import build_evidence_report
from app.signing.evidence_pdf import EvidenceReport, render_evidence_pdf
from app.signing.pades import (
    FieldAlreadySigned,
    FieldSpec,
    SignatureOrder,
    StampLook,
    add_archive_timestamp,
    add_signature_fields,
    certify_pdf,
    seal_pdf,
    sign_field,
)
from app.storage.blobs import BlobStore
from app.workflow import service
from app.workflow.events import record
from app.workflow.loading import load_envelope, lock_envelope_row
from app.workflow.mail import recipient_name
from app.workflow.models import SignatureRequest, SignatureRequestStatus

log = logging.getLogger(__name__)


def field_name_for(recipient: Recipient) -> str:
    # Unique per signature and stable across retries; position first so viewers list in order.
    return f"Signer{recipient.position}-{recipient.id.hex[:8]}"


def current_path(blobs: BlobStore, document: Document) -> Path:
    return blobs.path_of(document.current_sha256 or document.sha256)


async def new_version(
    blobs: BlobStore, source: Path, write: Callable[[Path, Path], None], prefix: str
) -> str:
    """Run `write(source, target)` in a thread and store the result; returns its SHA-256."""
    target = blobs.scratch_path(prefix)
    try:
        return await asyncio.to_thread(_write_and_adopt, blobs, source, target, write)
    finally:
        target.unlink(missing_ok=True)


def _write_and_adopt(
    blobs: BlobStore, source: Path, target: Path, write: Callable[[Path, Path], None]
) -> str:
    # One thread hop for both: the new version is hashed while its pages are still cached.
    write(source, target)
    return blobs.adopt(target)


# --- at send ------------------------------------------------------------------------------


def signature_fields(envelope: Envelope, document: Document) -> list[FieldSpec]:
    """One empty field per signer at their stamp, the last signer's locking the document."""
    pages = pages_of(document)
    stamp_of = {stamp.recipient_id: stamp for stamp in document.stamps}
    last = envelope.recipients[-1]
    fields = []
    for recipient in envelope.recipients:
        stamp = stamp_of[recipient.id]  # send's readiness check requires a stamp per signer
        box = box_of(stamp)
        fields.append(
            FieldSpec(
                name=field_name_for(recipient),
                page_index=box.page - 1,
                box=display_box_to_user_space(box, pages[box.page - 1]),
                lock_document=recipient is last,
            )
        )
    return fields


async def prepare_documents(runtime: Runtime, envelope: Envelope) -> None:
    """At send: every document gets all its signature fields in one incremental update, then,
    if so configured, the platform's certification signature."""
    blobs, seal = runtime.blobs, runtime.seal
    for document in envelope.documents:
        write = partial(add_signature_fields, fields=signature_fields(envelope, document))
        source = blobs.path_of(document.sha256)
        document.current_sha256 = await new_version(blobs, source, write, "fields-")
        if runtime.settings.signing_certify:
            reason = f"Cachet: envelope {envelope.id}, signed by its signers in order"
            certify = partial(certify_pdf, seal=seal, reason=reason)
            source = blobs.path_of(document.current_sha256)
            document.current_sha256 = await new_version(blobs, source, certify, "certified-")


# --- the signing job ------------------------------------------------------------------------


async def apply_signature_job(runtime: Runtime, payload: dict[str, Any]) -> None:
    """Sign every document for one signer, then move the cascade on. Safe to run twice."""
    request_id = uuid.UUID(payload["request_id"])
    async with transaction(runtime.sessions) as session:
        request = await session.get(SignatureRequest, request_id)
        if request is None:
            return
        envelope = await load_envelope(session, request.envelope_id, lock=True)
        # Re-read under the envelope's lock: another run of this job may have finished first.
        await session.refresh(request)
        if request.status is not SignatureRequestStatus.pending:
            return
        recipient = next(r for r in envelope.recipients if r.id == request.recipient_id)
        if envelope.status is not EnvelopeStatus.in_progress or (
            recipient.status not in ACTIONABLE_RECIPIENT
        ):
            request.status = SignatureRequestStatus.abandoned
            return
        await _sign_for(runtime, session, envelope, recipient, request)


async def _sign_for(
    runtime: Runtime,
    session: AsyncSession,
    envelope: Envelope,
    recipient: Recipient,
    request: SignatureRequest,
) -> None:
    image = await asyncio.to_thread(runtime.blobs.path_of(request.image_sha256).read_bytes)
    order = signature_order(envelope, recipient, image)
    for document in envelope.documents:
        await _sign_document(runtime, document, order, recipient)
    step = service.Step(
        now=runtime.clock.now(),
        settings=runtime.settings,
        secrets=runtime.secrets,
        actor=Actor("recipient", id=str(recipient.id), email=recipient_email(recipient)),
    )
    request.status = SignatureRequestStatus.applied
    request.applied_at = step.now
    service.mark_acted(recipient, RecipientStatus.signed, step.now)
    await step.record(
        session,
        envelope,
        "recipient.signed",
        recipient_id=str(recipient.id),
        method=request.method,
        documents=[{"id": str(d.id), "sha256": d.current_sha256} for d in envelope.documents],
    )
    if service.current_recipient(envelope) is None:
        await _archive_documents(runtime, session, envelope, step)
    await service.advance(session, step, envelope)
    if envelope.status is EnvelopeStatus.completed:
        await _seal_evidence(runtime, session, envelope, step)


def signature_order(envelope: Envelope, recipient: Recipient, image_png: bytes) -> SignatureOrder:
    name = recipient_name(recipient) or recipient_email(recipient) or "?"
    # Every document has one stamp per signer (checked at send), all in the same style.
    stamp = next(s for d in envelope.documents for s in d.stamps if s.recipient_id == recipient.id)
    return SignatureOrder(
        field_name=field_name_for(recipient),
        signer_name=name,
        reason=_reason(recipient, name),
        location=None,
        contact_info=recipient_email(recipient),
        stamp=StampLook(
            image_png=image_png,
            text=stamp.text,
            signer_name=name,
            locale=recipient.locale.value,
            with_text=stamp.style.value == "with_text",
        ),
    )


def _reason(recipient: Recipient, name: str) -> str:
    if recipient.locale.value == "fr":
        return f"Signé par {name} (signature simple, authentifié par lien e-mail)"
    return f"Signed by {name} (simple signature, authenticated by email link)"


async def _sign_document(
    runtime: Runtime, document: Document, order: SignatureOrder, recipient: Recipient
) -> None:
    seal = runtime.seal
    try:
        document.current_sha256 = await new_version(
            runtime.blobs,
            current_path(runtime.blobs, document),
            lambda src, dst: sign_field(src, dst, order, seal),
            "signed-",
        )
    except FieldAlreadySigned:
        # sign_field checks before writing anything. The version and the request's status
        # commit together, so this means an inconsistency elsewhere; the document already
        # carries this signature, which is what the job is for.
        log.warning("document %s already signed for recipient %s", document.id, recipient.id)


# --- completion -----------------------------------------------------------------------------


async def _archive_documents(
    runtime: Runtime, session: AsyncSession, envelope: Envelope, step: service.Step
) -> None:
    """PAdES B-LTA: validation data and a document timestamp over each fully signed document."""
    seal = runtime.seal
    for document in envelope.documents:
        document.signed_sha256 = await new_version(
            runtime.blobs,
            current_path(runtime.blobs, document),
            lambda src, dst: add_archive_timestamp(src, dst, seal),
            "archived-",
        )
    await step.record(
        session,
        envelope,
        "documents.archived",
        documents=[
            {"id": str(d.id), "sha256_original": d.sha256, "sha256_signed": d.signed_sha256}
            for d in envelope.documents
        ],
    )


async def _seal_evidence(
    runtime: Runtime, session: AsyncSession, envelope: Envelope, step: service.Step
) -> None:
    report = await build_evidence_report(session, envelope, generated_at=step.now)
    unsealed = runtime.blobs.scratch_path("evidence-")
    try:
        await asyncio.to_thread(_render_to, unsealed, report)
        seal = runtime.seal
        envelope.evidence_sha256 = await new_version(
            runtime.blobs,
            unsealed,
            lambda src, dst: seal_pdf(src, dst, seal, reason=_evidence_reason(envelope)),
            "evidence-sealed-",
        )
    finally:
        unsealed.unlink(missing_ok=True)
    await step.record(session, envelope, "evidence.sealed", sha256=envelope.evidence_sha256)


def _render_to(path: Path, report: EvidenceReport) -> None:
    path.write_bytes(render_evidence_pdf(report))


def _evidence_reason(envelope: Envelope) -> str:
    return f"Cachet evidence for envelope {envelope.id}"


async def signature_failed(runtime: Runtime, payload: dict[str, Any], error: str) -> None:
    """Every attempt failed (a TSA down for long, say). Nothing was signed and the request
    stays pending, so `cachet jobs retry` can sign later; the platform hears of it now."""
    async with transaction(runtime.sessions) as session:
        request = await session.get(SignatureRequest, uuid.UUID(payload["request_id"]))
        if request is None or request.status is not SignatureRequestStatus.pending:
            return
        envelope = await lock_envelope_row(session, request.envelope_id)
        await record(
            session,
            envelope,
            "recipient.signature_failed",
            actor=SYSTEM,
            now=runtime.clock.now(),
            recipient_id=str(request.recipient_id),
            error=error[:500],
        )
