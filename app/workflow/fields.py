"""At send: every document of a signature envelope gets one empty signature field per signer,
at that signer's stamp, in one incremental update; then, if so configured, the platform's
certification signature (fields must exist before it: pyHanko refuses fields added after)."""

from __future__ import annotations

from functools import partial

from app.envelopes.models import Document, Envelope, Recipient
from app.envelopes.rules import display_box_to_user_space
from app.envelopes.stamps import box_of, pages_of
from app.runtime import Runtime
from app.signing.pades import FieldSpec, add_signature_fields, certify_pdf
from app.workflow.versions import new_version, seal_of


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
    configured, the platform's certification signature."""
    blobs = runtime.blobs
    for document in envelope.documents:
        write = partial(add_signature_fields, fields=signature_fields(envelope, document))
        source = blobs.path_of(document.sha256)
        document.current_sha256 = await new_version(blobs, source, write, "fields-")
        if runtime.settings.signing_certify:
            reason = f"Cachet: envelope {envelope.id}, signed by its signers in order"
            certify = partial(certify_pdf, seal=seal_of(runtime), reason=reason)
            source = blobs.path_of(document.current_sha256)
            document.current_sha256 = await new_version(blobs, source, certify, "certified-")
