"""Whether an envelope is running, and whether it is this recipient's turn: checked on every
action, whatever emails were or were not sent."""

from __future__ import annotations

from app.envelopes.models import Envelope, EnvelopeStatus, Recipient, RecipientStatus
from app.envelopes.states import ACTIONABLE_RECIPIENT, DONE_RECIPIENT, ENDED_ENVELOPE
from app.errors import Conflict, Gone
from app.workflow import rules


def require_in_progress(envelope: Envelope) -> None:
    if envelope.status in ENDED_ENVELOPE:
        raise Gone("envelope_ended", f"The envelope is {envelope.status.value}.")
    if envelope.status is not EnvelopeStatus.in_progress:
        raise Conflict("envelope_not_in_progress", "The envelope has not been sent yet.")


def require_turn(envelope: Envelope, recipient: Recipient) -> None:
    """The order is enforced on every action, whatever emails were or were not sent."""
    require_in_progress(envelope)
    if recipient.status in DONE_RECIPIENT or recipient.status is RecipientStatus.declined:
        raise Conflict("already_acted", f"You have already {recipient.status.value} this envelope.")
    if (
        rules.whose_turn(envelope.recipients) is not recipient
        or recipient.status not in ACTIONABLE_RECIPIENT
    ):
        raise Conflict("not_your_turn", "Another recipient has to act before you.")
