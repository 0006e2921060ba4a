"""At send: every document of a signature envelope gets one empty signature field per signer,
at that signer's stamp, in one incremental update; then, if so configured, the platform's
certification signature (fields must exist before it: pyHanko refuses fields added after).

The uploaded file is untrusted, and adding fields means pyHanko parsing all of it: that runs in
the PDF gate's worker processes, under their CPU, memory and time caps, not in a thread of the
service (where a large file's parsing, and the garbage collections it sets off, stall the event
loop for hundreds of milliseconds). The certification needs the platform's key, so it stays in
a thread of the service, as the signatures do (see bench/gate_worst.py for what that costs).

Field names cannot be made collision-proof: the signing job recomputes them from the recipient
alone (so they stay stable across its retries), and the sender can read recipient ids, so an
uploaded file may already hold a field of that name. Send checks each document and refuses with
409 `field_name_taken`, naming the document and the field; the send's transaction rolls back.
"""

from __future__ import annotations

from functools import partial

from app.envelopes.models import Document, Envelope, Recipient
from app.envelopes.rules import display_box_to_user_space
from app.envelopes.stamps import box_of, pages_of
from app.errors import Conflict, UnsupportedDocument
from app.pdf.gate import PdfRejected
from app.runtime import Runtime
from app.signing.pades import (
    CERTIFICATION_FIELD,
    FieldNameTaken,
    FieldSpec,
    add_signature_fields,
    certify_pdf,
)
from app.workflow.versions import signed_version


def field_name_for(recipient: Recipient) -> str:
    # Unique per signature and stable across retries; position first so viewers list in order.
    return f"Signer{recipient.position}-{recipient.id.hex[:8]}"


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
    """Every document gets all its signature fields in one incremental update, then, if so
    configured, the platform's certification signature.

    Raises Conflict("field_name_taken") or UnsupportedDocument (the gate's caps) for the
    first document that cannot take its fields."""
    for document in envelope.documents:
        document.current_sha256 = await _with_fields(runtime, envelope, document)
        if runtime.settings.signing_certify:
            reason = f"Cachet: envelope {envelope.id}, signed by its signers in order"
            source = await runtime.blobs.local_path(document.current_sha256)
            certify = partial(certify_pdf, reason=reason)
            document.current_sha256, _ = await signed_version(
                runtime, source, certify, "certified-"
            )


async def _with_fields(runtime: Runtime, envelope: Envelope, document: Document) -> str:
    """The document with its signature fields, written by a gate worker and stored; its
    SHA-256. The certification's field name is kept free too: certify_pdf would fill a field
    of that name that it found in the file."""
    blobs = runtime.blobs
    target = blobs.scratch_path("fields-")
    try:
        await runtime.pdf_gate.run(
            add_signature_fields,
            await blobs.local_path(document.sha256),
            target,
            signature_fields(envelope, document),
            (CERTIFICATION_FIELD,),
        )
        return await blobs.adopt(target)
    except FieldNameTaken as taken:
        raise _name_taken(envelope, document, taken.field_name) from None
    except PdfRejected as rejected:  # the gate's CPU, memory or time cap
        raise UnsupportedDocument(
            rejected.code,
            f"Document {document.filename!r} cannot take its signature fields: {rejected.detail}.",
            document_id=str(document.id),
        ) from None
    finally:
        target.unlink(missing_ok=True)


def _name_taken(envelope: Envelope, document: Document, field_name: str) -> Conflict:
    whose = next((r for r in envelope.recipients if field_name_for(r) == field_name), None)
    purpose = (
        f"the signature field of signer {whose.position}"
        if whose is not None
        else "the platform's certification"
    )
    return Conflict(
        "field_name_taken",
        f"Document {document.filename!r} already has a form field named {field_name!r}, the "
        f"name Cachet gives {purpose}. Replace the document with one without that field.",
        document_id=str(document.id),
        field_name=field_name,
    )
