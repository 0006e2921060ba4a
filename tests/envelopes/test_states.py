"""The transition table: every legal move is allowed, every other one is a 409."""

from __future__ import annotations

import pytest

from app.envelopes.models import Envelope, EnvelopeStatus, Recipient, RecipientStatus
from app.envelopes.states import (
    ENVELOPE_TRANSITIONS,
    RECIPIENT_TRANSITIONS,
    move_envelope,
    move_recipient,
)
from app.errors import Conflict

E, R = EnvelopeStatus, RecipientStatus
ENVELOPE_MOVES = [(a, b) for a in E for b in E]
RECIPIENT_MOVES = [(a, b) for a in R for b in R]


def test_every_status_has_a_row_and_ended_envelopes_are_final() -> None:
    assert set(ENVELOPE_TRANSITIONS) == set(E) and set(RECIPIENT_TRANSITIONS) == set(R)
    for ended in (E.completed, E.declined, E.canceled, E.expired):
        assert ENVELOPE_TRANSITIONS[ended] == frozenset()
    assert ENVELOPE_TRANSITIONS[E.draft] == {E.in_progress}


@pytest.mark.parametrize(("current", "target"), ENVELOPE_MOVES)
def test_envelope_moves(current: EnvelopeStatus, target: EnvelopeStatus) -> None:
    envelope = Envelope(status=current)
    if target in ENVELOPE_TRANSITIONS[current]:
        move_envelope(envelope, target)
        assert envelope.status is target
    else:
        with pytest.raises(Conflict) as refused:
            move_envelope(envelope, target)
        assert refused.value.code == "illegal_transition" and envelope.status is current


@pytest.mark.parametrize(("current", "target"), RECIPIENT_MOVES)
def test_recipient_moves(current: RecipientStatus, target: RecipientStatus) -> None:
    recipient = Recipient(status=current)
    allowed = target in RECIPIENT_TRANSITIONS[current]
    if allowed:
        move_recipient(recipient, target)
        assert recipient.status is target
    else:
        with pytest.raises(Conflict):
            move_recipient(recipient, target)
        assert recipient.status is current
    # Nobody goes back to waiting, and only the invited can act.
    if target is R.waiting or (target in (R.approved, R.declined) and current is R.waiting):
        assert not allowed
