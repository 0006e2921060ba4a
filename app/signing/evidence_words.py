"""The evidence PDF's words in French and English, and values written out as text for them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from xml.sax.saxutils import escape

NO_VALUE = "—"

_WORDS: Mapping[str, Mapping[str, str]] = {
    "fr": {
        "lang": "fr-FR",
        "title": "Dossier de preuve",
        "subject": "Éléments de preuve d'une enveloppe Cachet",
        "envelope": "Enveloppe",
        "envelope_id": "Identifiant",
        "name": "Nom",
        "unnamed": "(sans nom)",
        "kind": "Type",
        "level": "Niveau",
        "status": "Statut",
        "tenant": "Organisation",
        "sender": "Expéditeur",
        "created_at": "Créée le (UTC)",
        "sent_at": "Envoyée le (UTC)",
        "ended_at": "Terminée le (UTC)",
        "recipients": "Destinataires",
        "position": "Ordre",
        "name_email": "Nom et e-mail",
        "role_status": "Rôle et statut",
        "authentication": "Authentification",
        "acted_at": "Action le (UTC)",
        "origin": "Adresse IP et navigateur",
        "no_recipients": "Aucun destinataire.",
        "documents": "Documents",
        "filename": "Fichier",
        "hashes": "Empreintes SHA-256",
        "before": "avant signature :",
        "after": "après signature :",
        "unchanged": "(document non modifié)",
        "size": "Taille",
        "pages": "Pages",
        "no_documents": "Aucun document.",
        "bytes": "octets",
        "events": "Journal des événements",
        "events_intro": (
            "Chaque événement porte l'empreinte SHA-256 de l'empreinte précédente suivie du "
            "contenu de l'événement en JSON canonique ; le premier événement part de 64 zéros. "
            "Modifier, retirer ou réordonner un événement change toutes les empreintes suivantes."
        ),
        "seq": "N°",
        "time_type": "Date (UTC) et type",
        "actor_origin": "Auteur et origine",
        "details": "Détails",
        "chain": "Empreinte / précédente",
        "previous": "précédente :",
        "no_events": "Aucun événement.",
        "closing": "Clôture",
        "chain_head": "Empreinte du dernier événement (tête de chaîne) :",
        "verified": (
            "La chaîne a été vérifiée à la génération de ce document : chaque empreinte "
            "recalculée correspond à l'empreinte enregistrée."
        ),
        "not_verified": (
            "ATTENTION : la chaîne n'a PAS pu être vérifiée à la génération de ce document ; "
            "les événements ci-dessus ne doivent pas être tenus pour intègres."
        ),
        "generated_at": "Document généré le (UTC) :",
        "page": "page",
        "kind.signature": "signature",
        "kind.approval": "approbation",
        "level.simple": "simple",
        "level.eidas_simple": "eIDAS simple",
        "level.eidas_advanced": "eIDAS avancée",
        "status.draft": "brouillon",
        "status.in_progress": "en cours",
        "status.completed": "terminée",
        "status.declined": "refusée",
        "status.canceled": "annulée",
        "status.expired": "expirée",
        "recipient.waiting": "en attente",
        "recipient.invited": "invité",
        "recipient.opened": "a ouvert",
        "recipient.approved": "a approuvé",
        "recipient.signed": "a signé",
        "recipient.declined": "a refusé",
        "recipient.skipped": "ignoré",
        "role.signer": "signataire",
        "role.approver": "approbateur",
    },
    "en": {
        "lang": "en-GB",
        "title": "Evidence report",
        "subject": "Evidence of a Cachet envelope",
        "envelope": "Envelope",
        "envelope_id": "Identifier",
        "name": "Name",
        "unnamed": "(unnamed)",
        "kind": "Kind",
        "level": "Level",
        "status": "Status",
        "tenant": "Organisation",
        "sender": "Sender",
        "created_at": "Created (UTC)",
        "sent_at": "Sent (UTC)",
        "ended_at": "Ended (UTC)",
        "recipients": "Recipients",
        "position": "Order",
        "name_email": "Name and email",
        "role_status": "Role and status",
        "authentication": "Authentication",
        "acted_at": "Acted (UTC)",
        "origin": "IP address and browser",
        "no_recipients": "No recipients.",
        "documents": "Documents",
        "filename": "File",
        "hashes": "SHA-256 fingerprints",
        "before": "before signing:",
        "after": "after signing:",
        "unchanged": "(document not modified)",
        "size": "Size",
        "pages": "Pages",
        "no_documents": "No documents.",
        "bytes": "bytes",
        "events": "Event log",
        "events_intro": (
            "Each event carries the SHA-256 of the previous event's hash followed by the event's "
            "content as canonical JSON; the first event starts from 64 zeros. Changing, removing "
            "or reordering an event changes every hash after it."
        ),
        "seq": "No.",
        "time_type": "Time (UTC) and type",
        "actor_origin": "Actor and origin",
        "details": "Details",
        "chain": "Hash / previous",
        "previous": "previous:",
        "no_events": "No events.",
        "closing": "Closing statement",
        "chain_head": "Hash of the last event (chain head):",
        "verified": (
            "The chain was verified when this document was generated: every recomputed hash "
            "matches the stored hash."
        ),
        "not_verified": (
            "WARNING: the chain could NOT be verified when this document was generated; the "
            "events above must not be taken as intact."
        ),
        "generated_at": "Document generated (UTC):",
        "page": "page",
        "kind.signature": "signature",
        "kind.approval": "approval",
        "level.simple": "simple",
        "level.eidas_simple": "eIDAS simple",
        "level.eidas_advanced": "eIDAS advanced",
        "status.draft": "draft",
        "status.in_progress": "in progress",
        "status.completed": "completed",
        "status.declined": "declined",
        "status.canceled": "canceled",
        "status.expired": "expired",
        "recipient.waiting": "waiting",
        "recipient.invited": "invited",
        "recipient.opened": "opened",
        "recipient.approved": "approved",
        "recipient.signed": "signed",
        "recipient.declined": "declined",
        "recipient.skipped": "skipped",
        "role.signer": "signer",
        "role.approver": "approver",
    },
}


def words_for(locale: str) -> Mapping[str, str]:
    language = locale.replace("_", "-").split("-")[0].lower()
    return _WORDS.get(language, _WORDS["fr"])


def word(words: Mapping[str, str], prefix: str, value: str | None) -> str:
    """A known value in the reader's language; an unknown one as it is stored."""
    if value is None:
        return NO_VALUE
    return words.get(f"{prefix}.{value}", value)


# -- Text ------------------------------------------------------------------------------------

# Other C0/C1 controls would break reportlab's markup parser or draw nothing; replacing them
# keeps a trace that something was there.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def markup(text: str | None) -> str:
    """User text as reportlab Paragraph markup: shown literally, line breaks kept."""
    if text is None or text == "":
        return NO_VALUE
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be drawn
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = _CONTROL.sub("\ufffd", text)
    return "<br/>".join(escape(line) for line in text.split("\n"))


def utc(moment: datetime | None) -> str:
    """ISO 8601 in UTC, to the second; a naive datetime is taken as UTC."""
    if moment is None:
        return NO_VALUE
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def byte_count(size_bytes: int, words: Mapping[str, str]) -> str:
    """The exact size: evidence should not round. '1 234 567 octets' / '1,234,567 bytes'."""
    grouped = f"{size_bytes:,}"
    if words["lang"].startswith("fr"):
        grouped = grouped.replace(",", "\u00a0")
    return f"{grouped}\u00a0{words['bytes']}"


HASH_LINE_CHARACTERS = 32


def hash_markup(value: str) -> str:
    """A hex digest in lines of 32 characters: two even lines instead of a ragged split."""
    lines = [
        value[i : i + HASH_LINE_CHARACTERS] for i in range(0, len(value), HASH_LINE_CHARACTERS)
    ]
    return "<br/>".join(escape(line) for line in lines) or NO_VALUE
