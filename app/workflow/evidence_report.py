"""An envelope's evidence PDF: what goes into it, gathered from the rows and the event chain,
and its sealing (the platform's signature and an archive timestamp) once the envelope has
completed. Signature envelopes are sealed by their last signing job, approval envelopes by the
evidence.seal job."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activity import Step
from app.crypto import SecretBox
from app.envelopes.models import Envelope, EnvelopeKind, Locale, Recipient
from app.envelopes.people import recipient_email, recipient_name, sender_email, sender_name
from app.evidence.models import Event, EvidenceChain
from app.evidence.schemas import EventType
from app.evidence.service import envelope_events, verify_keyed
from app.runtime import Runtime
from app.signing.evidence_pdf import (
    EvidenceDocument,
    EvidenceEvent,
    EvidenceRecipient,
    EvidenceReport,
    Party,
    write_evidence_pdf,
)
from app.signing.pades import seal_pdf
from app.tenants.models import Tenant
from app.workflow.models import IdentityState, IdentityVerification, OtpCode, SignatureRequest
from app.workflow.versions import run_in_signing_worker, signed_version

# Each event type in words, for the evidence PDF's log (tests check that none is missing).
EVENT_LABELS: dict[EventType, dict[Locale, str]] = {
    EventType.envelope_created: {Locale.fr: "Enveloppe créée", Locale.en: "Envelope created"},
    EventType.envelope_sent: {Locale.fr: "Enveloppe envoyée", Locale.en: "Envelope sent"},
    EventType.envelope_completed: {
        Locale.fr: "Enveloppe terminée",
        Locale.en: "Envelope completed",
    },
    EventType.envelope_declined: {Locale.fr: "Enveloppe refusée", Locale.en: "Envelope declined"},
    EventType.envelope_canceled: {Locale.fr: "Enveloppe annulée", Locale.en: "Envelope canceled"},
    EventType.envelope_expired: {Locale.fr: "Enveloppe expirée", Locale.en: "Envelope expired"},
    EventType.envelope_failed: {
        Locale.fr: "Enveloppe en échec (signature impossible)",
        Locale.en: "Envelope failed (signing impossible)",
    },
    EventType.document_added: {Locale.fr: "Document ajouté", Locale.en: "Document added"},
    EventType.document_deleted: {Locale.fr: "Document retiré", Locale.en: "Document removed"},
    EventType.documents_archived: {
        Locale.fr: "Documents archivés (horodatage d'archive)",
        Locale.en: "Documents archived (archive timestamp)",
    },
    EventType.documents_renewed: {
        Locale.fr: "Horodatage d'archive renouvelé",
        Locale.en: "Archive timestamp renewed",
    },
    EventType.recipient_invited: {Locale.fr: "Destinataire invité", Locale.en: "Recipient invited"},
    EventType.recipient_opened: {Locale.fr: "Lien ouvert", Locale.en: "Link opened"},
    EventType.recipient_link_issued: {
        Locale.fr: "Lien de signature remis à la plateforme",
        Locale.en: "Signing link given to the platform",
    },
    EventType.recipient_reminded: {Locale.fr: "Relance envoyée", Locale.en: "Reminder sent"},
    EventType.recipient_approved: {Locale.fr: "Approuvé", Locale.en: "Approved"},
    EventType.recipient_consented: {
        Locale.fr: "Consentement à signer",
        Locale.en: "Consent to sign",
    },
    EventType.recipient_signed: {Locale.fr: "Signé", Locale.en: "Signed"},
    EventType.recipient_signature_failed: {
        Locale.fr: "Échec de la signature",
        Locale.en: "Signature failed",
    },
    EventType.recipient_declined: {Locale.fr: "Refusé", Locale.en: "Declined"},
    EventType.recipient_otp_locked: {
        Locale.fr: "Signataire bloqué (trop de codes erronés)",
        Locale.en: "Signer locked (too many wrong codes)",
    },
    EventType.recipient_phone_unreachable: {
        Locale.fr: "Numéro de mobile injoignable",
        Locale.en: "Mobile number unreachable",
    },
    EventType.otp_sent: {Locale.fr: "Code SMS envoyé", Locale.en: "SMS code sent"},
    EventType.otp_delivered: {Locale.fr: "Code SMS remis", Locale.en: "SMS code delivered"},
    EventType.otp_undelivered: {
        Locale.fr: "Code SMS non remis",
        Locale.en: "SMS code not delivered",
    },
    EventType.otp_verified: {Locale.fr: "Code SMS vérifié", Locale.en: "SMS code verified"},
    EventType.otp_failed: {Locale.fr: "Code SMS erroné", Locale.en: "Wrong SMS code"},
    EventType.otp_locked: {
        Locale.fr: "Saisie du code bloquée",
        Locale.en: "Code entry locked",
    },
    EventType.otp_unlocked: {
        Locale.fr: "Saisie du code débloquée",
        Locale.en: "Code entry unlocked",
    },
    EventType.credits_reserved: {Locale.fr: "Crédits réservés", Locale.en: "Credits reserved"},
    EventType.credits_consumed: {Locale.fr: "Crédit consommé", Locale.en: "Credit consumed"},
    EventType.credits_released: {Locale.fr: "Crédits libérés", Locale.en: "Credits released"},
    EventType.email_sent: {Locale.fr: "E-mail envoyé", Locale.en: "Email sent"},
    EventType.email_failed: {Locale.fr: "E-mail non remis", Locale.en: "Email not delivered"},
    EventType.identity_started: {
        Locale.fr: "Vérification d'identité commencée",
        Locale.en: "Identity verification started",
    },
    EventType.identity_approved: {Locale.fr: "Identité vérifiée", Locale.en: "Identity verified"},
    EventType.identity_declined: {
        Locale.fr: "Vérification d'identité refusée",
        Locale.en: "Identity verification declined",
    },
    EventType.identity_expired: {
        Locale.fr: "Vérification d'identité expirée",
        Locale.en: "Identity verification expired",
    },
    EventType.recipient_identity_approved: {
        Locale.fr: "Identité du signataire vérifiée",
        Locale.en: "Signer's identity verified",
    },
    EventType.recipient_identity_failed: {
        Locale.fr: "Vérification d'identité du signataire en échec",
        Locale.en: "Signer's identity verification failed",
    },
    EventType.recipient_corrected: {
        Locale.fr: "Nom du destinataire corrigé",
        Locale.en: "Recipient's name corrected",
    },
    EventType.evidence_sealed: {
        Locale.fr: "Dossier de preuve scellé",
        Locale.en: "Evidence sealed",
    },
}

METHOD_WORDS = {
    "email_link": {"fr": "lien personnel envoyé par e-mail", "en": "personal link sent by email"},
    "email_link+sms_otp": {
        "fr": "lien personnel envoyé par e-mail, puis code à usage unique envoyé par SMS",
        "en": "personal link sent by email, then a one-time code sent by SMS",
    },
    "email_link+sms_otp+identity": {
        "fr": "lien personnel envoyé par e-mail, puis code à usage unique envoyé par SMS, puis "
        "vérification d'une pièce d'identité",
        "en": "personal link sent by email, then a one-time code sent by SMS, then an identity "
        "document check",
    },
}
STEP_WORDS = {
    "opened": {"fr": "lien ouvert le {at}", "en": "link opened {at}"},
    "sms": {
        "fr": "code SMS envoyé au {phone} le {sent}, vérifié le {verified}",
        "en": "SMS code sent to {phone} {sent}, verified {verified}",
    },
    "identity": {
        "fr": "identité vérifiée par {provider} le {at} : {names}, {document} ({country}), "
        "session {session}",
        "en": "identity verified by {provider} {at}: {names}, {document} ({country}), "
        "session {session}",
    },
}


async def seal_evidence(
    runtime: Runtime, session: AsyncSession, envelope: Envelope, step: Step
) -> None:
    """Renders the evidence PDF of a completed envelope, seals it, and records that it did."""
    report = await build_evidence_report(
        session, envelope, generated_at=step.now, secrets=step.secrets
    )
    unsealed = runtime.blobs.scratch_path("evidence-")
    try:
        # reportlab's layout of a long log is seconds of CPU: not in the service's interpreter.
        await run_in_signing_worker(runtime, write_evidence_pdf, report, unsealed)
        sealing = partial(seal_pdf, reason=f"Cachet evidence for envelope {envelope.id}")
        sha256, stamp = await signed_version(runtime, unsealed, sealing, "evidence-sealed-")
        envelope.evidence_sha256, envelope.evidence_archive_expires_at = sha256, stamp.expires_at
    finally:
        unsealed.unlink(missing_ok=True)
    await step.record(
        session,
        envelope,
        EventType.evidence_sealed,
        sha256=envelope.evidence_sha256,
        chain_length=len(report.events),
        chain_head=report.chain_head,
    )


async def build_evidence_report(
    session: AsyncSession, envelope: Envelope, *, generated_at: datetime, secrets: SecretBox
) -> EvidenceReport:
    """Everything the report shows, read inside the transaction that completes the envelope."""
    await session.flush()  # events recorded in this transaction belong in the report
    events = await envelope_events(session, envelope.id)
    chain = await session.get(EvidenceChain, envelope.id)
    requests = await _signature_requests(session, envelope)
    codes = await _verified_codes(session, envelope)
    identities = await _approved_identities(session, envelope)
    locale = envelope.locale.value
    tenant = await session.get(Tenant, envelope.tenant_id)
    return EvidenceReport(
        envelope_id=str(envelope.id),
        envelope_name=envelope.name,
        kind=envelope.kind.value,
        level=envelope.level.value if envelope.level else None,
        status=envelope.status.value,
        tenant_name=tenant.name if tenant else None,
        sender=Party(name=sender_name(envelope), email=sender_email(envelope)),
        created_at=envelope.created_at,
        sent_at=envelope.sent_at,
        ended_at=envelope.ended_at,
        recipients=[
            _recipient(
                r, envelope, requests.get(r.id), locale, codes.get(r.id), identities.get(r.id)
            )
            for r in envelope.recipients
        ],
        documents=[
            EvidenceDocument(
                filename=d.filename,
                sha256_original=d.sha256,
                sha256_signed=d.signed_sha256 or d.current_sha256,
                size_bytes=d.size_bytes,
                page_count=d.page_count,
            )
            for d in envelope.documents
        ],
        events=[_event(e, envelope, envelope.locale) for e in events],
        chain_head=events[-1].hash if events else "",
        chain_verified=verify_keyed(events, chain, secrets) is None,
        generated_at=generated_at,
        locale=locale,
    )


async def _signature_requests(
    session: AsyncSession, envelope: Envelope
) -> dict[uuid.UUID, SignatureRequest]:
    rows = await session.scalars(
        select(SignatureRequest).where(SignatureRequest.envelope_id == envelope.id)
    )
    return {row.recipient_id: row for row in rows}


def _recipient(
    recipient: Recipient,
    envelope: Envelope,
    request: SignatureRequest | None,
    locale: str,
    code: OtpCode | None,
    checked: IdentityVerification | None,
) -> EvidenceRecipient:
    signer = envelope.kind is EnvelopeKind.signature
    method = request.method if request else "email_link"
    return EvidenceRecipient(
        position=recipient.position,
        name=recipient_name(recipient),
        email=recipient_email(recipient),
        role="signer" if signer else "approver",
        status=recipient.status.value,
        authentication_method=_authentication(method, recipient, code, checked, locale),
        acted_at=recipient.acted_at,
        ip=request.ip if request else None,
        user_agent=request.user_agent if request else None,
    )


def _authentication(
    method: str,
    recipient: Recipient,
    code: OtpCode | None,
    checked: IdentityVerification | None,
    locale: str,
) -> str:
    """How the signer was authenticated, and when each step was done."""
    lines = [METHOD_WORDS.get(method, {}).get(locale, method)]
    if recipient.opened_at is not None:
        lines.append(STEP_WORDS["opened"][locale].format(at=_utc(recipient.opened_at)))
    if code is not None and code.verified_at is not None:
        lines.append(
            STEP_WORDS["sms"][locale].format(
                phone=code.phone_hint, sent=_utc(code.created_at), verified=_utc(code.verified_at)
            )
        )
    if checked is not None and checked.decided_at is not None:
        lines.append(_identity_line(checked, locale))
    return "\n".join(lines)


def _identity_line(checked: IdentityVerification, locale: str) -> str:
    """What the identity check read: names, document type, issuing country (never more)."""
    return STEP_WORDS["identity"][locale].format(
        provider=checked.provider,
        at=_utc(checked.decided_at or checked.checked_at),
        names=f"{checked.verified_first_name} {checked.verified_last_name}",
        document=checked.document_type or "?",
        country=checked.issuing_country or "?",
        session=checked.provider_session_id,
    )


async def _approved_identities(
    session: AsyncSession, envelope: Envelope
) -> dict[uuid.UUID, IdentityVerification]:
    """Each signer's approved identity check (the one their signature rests on)."""
    rows = await session.scalars(
        select(IdentityVerification)
        .where(
            IdentityVerification.envelope_id == envelope.id,
            IdentityVerification.state == IdentityState.approved,
            IdentityVerification.superseded_at.is_(None),
        )
        .order_by(IdentityVerification.decided_at)
    )
    return {row.recipient_id: row for row in rows}


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def _verified_codes(session: AsyncSession, envelope: Envelope) -> dict[uuid.UUID, OtpCode]:
    """Each signer's code that was entered right (the last one, if several)."""
    rows = await session.scalars(
        select(OtpCode)
        .where(OtpCode.envelope_id == envelope.id, OtpCode.verified_at.is_not(None))
        .order_by(OtpCode.verified_at)
    )
    return {row.recipient_id: row for row in rows}


def event_label(type: str, locale: Locale) -> str | None:
    """The event type in words; None for a type this version does not know (an old row)."""
    try:
        return EVENT_LABELS[EventType(type)][locale]
    except ValueError:
        return None


def _event(event: Event, envelope: Envelope, locale: Locale) -> EvidenceEvent:
    return EvidenceEvent(
        seq=event.sequence,
        at=event.occurred_at,
        type=event.type,
        actor=_actor(event.actor, envelope),
        ip=event.ip,
        user_agent=event.user_agent,
        details=_details(event.data),
        hash=event.hash,
        prev_hash=event.prev_hash,
        label=event_label(event.type, locale),
    )


def _actor(actor: dict[str, Any], envelope: Envelope) -> str:
    kind = actor.get("kind", "system")
    if kind == "recipient":
        who = next((r for r in envelope.recipients if str(r.id) == actor.get("id")), None)
        name = recipient_name(who) if who else None
        email = actor.get("email")
        return f"{name} <{email}>" if name and email else (name or email or "recipient")
    if kind == "system":
        return "Cachet"
    return f"{kind} {actor.get('id', '')}".strip()


def _details(data: dict[str, Any]) -> str:
    """One `key: value` line per datum; nested values as compact JSON."""
    return "\n".join(
        f"{key}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
        for key, value in sorted(data.items())
        if value is not None
    )
