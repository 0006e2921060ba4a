"""Whether an envelope can be sent, and if not every reason why: the rows read into the plain
values of rules.py. The sender's view shows the answer; send refuses on it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.envelopes.models import Document, Envelope, EnvelopeKind, EnvelopeStatus, Level, Recipient
from app.envelopes.people import full_name, recipient_email, shown_names
from app.envelopes.rules import (
    Blocker,
    DocumentView,
    EnvelopeView,
    RecipientView,
    StampStyle,
    blockers,
)

EIDAS_LEVELS = frozenset({Level.eidas_simple, Level.eidas_advanced})


def envelope_blockers(
    envelope: Envelope, now: datetime, *, credits_available: int | None = None
) -> list[Blocker]:
    """Every reason the envelope cannot be sent at `now`; empty when it can. With the
    tenant's credits at the envelope's level, too few of them is a reason too."""
    view = EnvelopeView(
        is_draft=envelope.status is EnvelopeStatus.draft,
        is_signature=envelope.kind is EnvelopeKind.signature,
        eidas=envelope.level in EIDAS_LEVELS,
        expiry_in_past=envelope.expires_at is not None and envelope.expires_at <= now,
        documents=[document_view(d) for d in envelope.documents],
        recipients=[_recipient_view(r) for r in envelope.recipients],
        credits_available=credits_available,
        identity_check=envelope.level is Level.eidas_advanced,
    )
    return blockers(view)


def blocker_json(blocker: Blocker) -> dict[str, Any]:
    """A blocker as the `envelope_not_ready` problem lists it."""
    body = {"code": blocker.code.value, "detail": blocker.detail, "pointer": blocker.pointer}
    for key in ("document_id", "recipient_id"):
        if getattr(blocker, key) is not None:
            body[key] = getattr(blocker, key)
    return body


def document_view(document: Document) -> DocumentView:
    return DocumentView(
        id=str(document.id),
        filename=document.filename,
        stamped_by=frozenset(str(s.recipient_id) for s in document.stamps),
        text_stamped_by=frozenset(
            str(s.recipient_id) for s in document.stamps if s.style is StampStyle.with_text
        ),
    )


def _recipient_view(recipient: Recipient) -> RecipientView:
    phone = recipient.phone or (recipient.user.phone if recipient.user else None)
    # Named as the sender's view shows them: each name set on the recipient, else the user's.
    first, last = shown_names(recipient)
    label = full_name(first, last) or recipient_email(recipient)
    return RecipientView(
        str(recipient.id), label, has_phone=phone is not None, has_names=bool(first and last)
    )
