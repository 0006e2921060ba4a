"""The one state machine: every status change of an envelope or a recipient goes through here."""

from __future__ import annotations

from app.envelopes.models import Envelope, EnvelopeStatus, Recipient, RecipientStatus
from app.errors import Conflict

E = EnvelopeStatus
R = RecipientStatus

ENVELOPE_TRANSITIONS: dict[EnvelopeStatus, frozenset[EnvelopeStatus]] = {
    E.draft: frozenset({E.in_progress}),
    E.in_progress: frozenset({E.completed, E.declined, E.canceled, E.expired, E.failed}),
    E.completed: frozenset(),
    E.failed: frozenset(),
    E.declined: frozenset(),
    E.canceled: frozenset(),
    E.expired: frozenset(),
}

RECIPIENT_TRANSITIONS: dict[RecipientStatus, frozenset[RecipientStatus]] = {
    R.waiting: frozenset({R.invited, R.skipped}),
    R.invited: frozenset({R.opened, R.approved, R.signed, R.declined, R.skipped}),
    R.opened: frozenset({R.approved, R.signed, R.declined, R.skipped}),
    R.approved: frozenset(),
    R.signed: frozenset(),
    R.declined: frozenset(),
    R.skipped: frozenset(),
}

ENDED_ENVELOPE = frozenset({E.completed, E.declined, E.canceled, E.expired, E.failed})
ACTIONABLE_RECIPIENT = frozenset({R.invited, R.opened})
DONE_RECIPIENT = frozenset({R.approved, R.signed})


def move_envelope(envelope: Envelope, target: EnvelopeStatus) -> None:
    current = EnvelopeStatus(envelope.status)
    if target not in ENVELOPE_TRANSITIONS[current]:
        raise Conflict(
            "illegal_transition",
            f"The envelope is {current.value}; it cannot become {target.value}.",
        )
    envelope.status = target


def move_recipient(recipient: Recipient, target: RecipientStatus) -> None:
    current = RecipientStatus(recipient.status)
    if target not in RECIPIENT_TRANSITIONS[current]:
        raise Conflict(
            "illegal_transition",
            f"The recipient is {current.value}; they cannot become {target.value}.",
        )
    recipient.status = target
