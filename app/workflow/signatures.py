"""The signing job's work for one signer, and the completion of a signature envelope.

For each document the signer's field is filled with a PAdES signature (B-T, the stamp as its
appearance), stored as a new version; then the signer is marked signed and the cascade moves
on. When the last signer has signed, every document gets its archive timestamp (B-LTA) and
the envelope's evidence PDF is rendered from the rows and the event chain, then sealed
(workflow/evidence_report.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.activity import Step
from app.credits import service as credits
from app.envelopes.models import (
    Document,
    Envelope,
    EnvelopeStatus,
    Level,
    Locale,
    Recipient,
    RecipientStatus,
)
from app.envelopes.people import recipient_email, recipient_label
from app.envelopes.rules import StampStyle
from app.evidence.schemas import EventType
from app.evidence.service import SYSTEM, Actor
from app.runtime import Runtime
from app.signing.pades import (
    FieldAlreadySigned,
    SignatureOrder,
    StampLook,
    add_validation_data,
    sign_field,
)
from app.signing.signer_identity import PersonCertificate, VerifiedPerson
from app.workflow import identity, rules, service
from app.workflow.advanced_signing import sign_as_person, verified_person
from app.workflow.archive import archive_document
from app.workflow.evidence_report import seal_evidence
from app.workflow.fields import field_name_for
from app.workflow.models import SignatureRequest, SignatureRequestStatus
from app.workflow.versions import SealedOperation, current_path, signed_version

log = logging.getLogger(__name__)


async def sign_for(
    runtime: Runtime,
    session: AsyncSession,
    step: Step,
    envelope: Envelope,
    request: SignatureRequest,
) -> None:
    """Signs every document for the request's signer, then moves the cascade on; completes
    the envelope after the last signer."""
    recipient = next(r for r in envelope.recipients if r.id == request.recipient_id)
    image_path = await runtime.blobs.local_path(request.image_sha256)
    image = await asyncio.to_thread(image_path.read_bytes)
    order = signature_order(envelope, recipient, image)
    person = await _verified_person(session, envelope, recipient)
    certificates: dict[uuid.UUID, PersonCertificate] = {}
    for document in envelope.documents:
        certificate = await _sign_document(runtime, document, order, recipient, person)
        if certificate is not None:
            certificates[document.id] = certificate
        if envelope.level in LONG_TERM_AT_ONCE:
            await _embed_validation_data(runtime, document, order.field_name)
    step = step.by(Actor("recipient", id=str(recipient.id), email=recipient_email(recipient)))
    await credits.consume(session, step, envelope, recipient)
    request.status = SignatureRequestStatus.applied
    request.applied_at = step.now
    envelope.pending_problem = None  # whatever the job waited for has answered
    service.mark_acted(recipient, RecipientStatus.signed, step.now)
    await step.record(
        session,
        envelope,
        EventType.recipient_signed,
        recipient_id=str(recipient.id),
        method=request.method,
        documents=[_signed_document(d, certificates.get(d.id)) for d in envelope.documents],
    )
    # Archiving and sealing are the service's own doing, not the last signer's.
    service_step = step.by(SYSTEM)
    if rules.whose_turn(envelope.recipients) is None:
        await _archive_documents(runtime, session, envelope, service_step)
    await service.advance(session, step, envelope)
    if envelope.status is EnvelopeStatus.completed:
        await seal_evidence(runtime, session, envelope, service_step)


def signature_order(envelope: Envelope, recipient: Recipient, image_png: bytes) -> SignatureOrder:
    name = recipient_label(recipient)
    # Every document has one stamp per signer (checked at send), all in the same style.
    stamp = next(s for d in envelope.documents for s in d.stamps if s.recipient_id == recipient.id)
    return SignatureOrder(
        field_name=field_name_for(recipient),
        signer_name=name,
        reason=_reason(envelope, recipient, name),
        location=None,
        contact_info=recipient_email(recipient),
        stamp=StampLook(
            image_png=image_png,
            text=stamp.text,
            signer_name=name,
            locale=recipient.locale.value,
            with_text=stamp.style is StampStyle.with_text,
        ),
    )


# How each level is named in the signature's /Reason, in the signer's language.
REASONS = {
    (Level.simple, Locale.fr): "Signé par {name} (signature simple, authentifié par lien e-mail)",
    (Level.simple, Locale.en): "Signed by {name} (simple signature, authenticated by email link)",
    (Level.eidas_simple, Locale.fr): "Signé par {name} (signature électronique simple eIDAS, "
    "authentifié par lien e-mail et code SMS)",
    (Level.eidas_simple, Locale.en): "Signed by {name} (eIDAS simple electronic signature, "
    "authenticated by email link and SMS code)",
    (Level.eidas_advanced, Locale.fr): "Signé par {name} (signature électronique avancée eIDAS, "
    "authentifié par lien e-mail et code SMS, identité vérifiée sur pièce d'identité)",
    (Level.eidas_advanced, Locale.en): "Signed by {name} (eIDAS advanced electronic signature, "
    "authenticated by email link and SMS code, identity checked against an identity document)",
}
# Signatures at these levels carry their validation data at once (B-LT), not only at
# completion: what the signer's identity check rests on is kept as it was when they signed.
LONG_TERM_AT_ONCE = frozenset({Level.eidas_simple, Level.eidas_advanced})


def _reason(envelope: Envelope, recipient: Recipient, name: str) -> str:
    level = envelope.level or Level.simple
    return REASONS[(level, recipient.locale)].format(name=name)


async def _embed_validation_data(runtime: Runtime, document: Document, field_name: str) -> None:
    """PAdES B-LT: the new signature's chains and revocation data, hard-fail (Unavailable is
    waited for like a TSA that does not answer)."""
    document.current_sha256, _ = await signed_version(
        runtime,
        await current_path(runtime.blobs, document),
        partial(add_validation_data, field_name=field_name),
        "long-term-",
    )


async def _verified_person(
    session: AsyncSession, envelope: Envelope, recipient: Recipient
) -> VerifiedPerson | None:
    """eIDAS advanced: whom the certificate names, as the identity check read the document.
    Checked when the signer asked to sign; checked again here, as a correction of the name
    may have come in between (then the job fails rather than sign for someone else)."""
    if not identity.needs_identity(envelope):
        return None
    approved = await identity.require_approved(session, envelope, recipient)
    assert approved is not None
    return verified_person(approved, recipient)


def _signed_document(document: Document, certificate: PersonCertificate | None) -> dict[str, Any]:
    signed: dict[str, Any] = {"id": str(document.id), "sha256": document.current_sha256}
    if certificate is not None:
        signed["certificate"] = {
            "subject": certificate.subject,
            "issuer": certificate.issuer,
            "serial_number": certificate.serial_number,
            "not_after": certificate.not_after.isoformat(),
            "sha256": certificate.sha256,
            "backend": certificate.backend,
        }
    return signed


async def _sign_document(
    runtime: Runtime,
    document: Document,
    order: SignatureOrder,
    recipient: Recipient,
    person: VerifiedPerson | None,
) -> PersonCertificate | None:
    operation: SealedOperation[PersonCertificate | None] = (
        partial(sign_field, order=order)
        if person is None
        else partial(sign_as_person, order=order, person=person, settings=runtime.settings)
    )
    try:
        document.current_sha256, certificate = await signed_version(
            runtime, await current_path(runtime.blobs, document), operation, "signed-"
        )
    except FieldAlreadySigned:
        # The signing operations check before writing anything. The version and the request's
        # status commit together, so this means an inconsistency elsewhere; the document
        # already carries this signature, which is what the job is for.
        log.warning("document %s already signed for recipient %s", document.id, recipient.id)
        return None
    return certificate


# --- completion -----------------------------------------------------------------------------


async def _archive_documents(
    runtime: Runtime, session: AsyncSession, envelope: Envelope, step: Step
) -> None:
    """PAdES B-LTA over each fully signed document: validation data obtained hard-fail, then a
    document timestamp. When revocation data or a timestamp cannot be had (Unavailable), this
    raises and the job's transaction rolls back: no document is half archived, the envelope
    is not completed, and the job is tried again."""
    for document in envelope.documents:
        await archive_document(runtime, document)
    await step.record(
        session,
        envelope,
        EventType.documents_archived,
        documents=[
            {"id": str(d.id), "sha256_original": d.sha256, "sha256_signed": d.signed_sha256}
            for d in envelope.documents
        ],
    )
