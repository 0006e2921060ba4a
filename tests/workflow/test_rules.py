"""The workflow's decisions, table-driven over plain values: whose turn, who is told of a
cancel, who is skipped, expiry, and the reminder schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from app.envelopes.models import EnvelopeStatus, RecipientStatus
from app.workflow import rules

R = RecipientStatus
E = EnvelopeStatus
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Someone:
    name: str
    status: RecipientStatus


def queue(*statuses: RecipientStatus) -> list[Someone]:
    return [Someone(f"r{n}", status) for n, status in enumerate(statuses, start=1)]


@pytest.mark.parametrize(
    ("statuses", "turn"),
    [
        ((R.invited, R.waiting, R.waiting), "r1"),
        ((R.opened, R.waiting), "r1"),
        ((R.approved, R.invited, R.waiting), "r2"),
        ((R.signed, R.signed, R.invited), "r3"),
        ((R.approved, R.approved), None),
        ((R.signed,), None),
        ((), None),
        # A decline ends the envelope; the decliner is still the one whose turn it was.
        ((R.signed, R.declined, R.skipped), "r2"),
    ],
)
def test_whose_turn(statuses: tuple[RecipientStatus, ...], turn: str | None) -> None:
    found = rules.whose_turn(queue(*statuses))
    assert (found.name if found else None) == turn


@pytest.mark.parametrize(
    ("statuses", "told"),
    [
        ((R.invited, R.waiting, R.waiting), ["r1"]),
        ((R.approved, R.opened, R.waiting), ["r1", "r2"]),
        ((R.signed, R.signed, R.invited), ["r1", "r2", "r3"]),
        ((R.waiting, R.waiting), []),
        ((R.declined, R.skipped), []),
    ],
)
def test_told_of_cancel(statuses: tuple[RecipientStatus, ...], told: list[str]) -> None:
    assert [r.name for r in rules.told_of_cancel(queue(*statuses))] == told


@pytest.mark.parametrize(
    ("status", "skipped"),
    [
        (R.waiting, True),
        (R.invited, True),
        (R.opened, True),
        (R.approved, False),
        (R.signed, False),
        (R.declined, False),
        (R.skipped, False),
    ],
)
def test_skipped_at_end(status: RecipientStatus, skipped: bool) -> None:
    assert rules.skipped_at_end(status) is skipped


@pytest.mark.parametrize(
    ("status", "expires_at", "expired"),
    [
        (E.in_progress, NOW - HOUR, True),
        (E.in_progress, NOW, True),
        (E.in_progress, NOW + HOUR, False),
        (E.in_progress, None, False),
        (E.draft, NOW - HOUR, False),
        (E.completed, NOW - HOUR, False),
        (E.canceled, NOW - HOUR, False),
    ],
)
def test_has_expired(status: EnvelopeStatus, expires_at: datetime | None, expired: bool) -> None:
    assert rules.has_expired(status, expires_at, NOW) is expired


@pytest.mark.parametrize(
    ("status", "due_at", "due"),
    [
        (R.invited, NOW - HOUR, True),
        (R.opened, NOW, True),
        (R.invited, NOW + HOUR, False),
        (R.invited, None, False),
        (R.waiting, NOW - HOUR, False),
        (R.signed, NOW - HOUR, False),
    ],
)
def test_reminder_due(status: RecipientStatus, due_at: datetime | None, due: bool) -> None:
    assert rules.reminder_due(status, due_at, NOW) is due


@pytest.mark.parametrize(
    ("interval_days", "max_count", "sent", "next_at"),
    [
        (3, 2, 0, NOW + timedelta(days=3)),
        (3, 2, 1, NOW + timedelta(days=3)),
        (3, 2, 2, None),
        (3, 0, 0, None),
        (None, 2, 0, None),
        (3, None, 0, None),
        (1, 5, 4, NOW + timedelta(days=1)),
    ],
)
def test_next_reminder_at(
    interval_days: int | None, max_count: int | None, sent: int, next_at: datetime | None
) -> None:
    found = rules.next_reminder_at(NOW, interval_days=interval_days, max_count=max_count, sent=sent)
    assert found == next_at


@pytest.mark.parametrize(
    ("interval_days", "max_count", "first_at"),
    [(2, 1, NOW + timedelta(days=2)), (2, 0, None), (None, None, None)],
)
def test_first_reminder_at(
    interval_days: int | None, max_count: int | None, first_at: datetime | None
) -> None:
    found = rules.first_reminder_at(NOW, interval_days=interval_days, max_count=max_count)
    assert found == first_at


@pytest.mark.parametrize(
    ("last_at", "wait"),
    [
        (None, None),
        (NOW - 2 * HOUR, None),
        (NOW - HOUR, None),
        (NOW - timedelta(minutes=45), timedelta(minutes=15)),
        (NOW, HOUR),
    ],
)
def test_manual_reminder_wait(last_at: datetime | None, wait: timedelta | None) -> None:
    assert rules.manual_reminder_wait(last_at, NOW, HOUR) == wait


@pytest.mark.parametrize(
    ("state", "steps"),
    [
        (
            rules.CeremonyState(sms=False, identity=False, acted=False, my_turn=True),
            [("email", "done"), ("sign", "pending")],
        ),
        (
            rules.CeremonyState(sms=False, identity=False, acted=False, my_turn=False),
            [("email", "done"), ("sign", "blocked")],
        ),
        (
            rules.CeremonyState(sms=True, identity=False, acted=False, my_turn=True),
            [("email", "done"), ("sms", "pending"), ("sign", "blocked")],
        ),
        (
            rules.CeremonyState(
                sms=True, identity=False, acted=False, my_turn=True, sms_verified=True
            ),
            [("email", "done"), ("sms", "done"), ("sign", "pending")],
        ),
        (
            rules.CeremonyState(
                sms=True, identity=False, acted=False, my_turn=True, sms_blocked=True
            ),
            [("email", "done"), ("sms", "blocked"), ("sign", "blocked")],
        ),
        (
            rules.CeremonyState(
                sms=True, identity=True, acted=False, my_turn=True, sms_verified=True
            ),
            [("email", "done"), ("sms", "done"), ("identity", "pending"), ("sign", "blocked")],
        ),
        (
            rules.CeremonyState(sms=True, identity=True, acted=False, my_turn=False),
            [("email", "done"), ("sms", "blocked"), ("identity", "blocked"), ("sign", "blocked")],
        ),
        (
            rules.CeremonyState(sms=True, identity=True, acted=True, my_turn=False),
            [("email", "done"), ("sms", "done"), ("identity", "done"), ("sign", "done")],
        ),
    ],
)
def test_ceremony_steps(state: rules.CeremonyState, steps: list[tuple[str, str]]) -> None:
    assert rules.ceremony_steps(state) == steps
