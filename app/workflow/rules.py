"""The workflow's decisions as pure functions over plain values: whose turn it is, who is told
when an envelope is canceled, whether an envelope has expired, when reminders are due.

Nothing here touches the database; workflow/service.py applies these to the rows, and
tests/workflow/test_rules.py checks them table-driven.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol, TypeVar

from app.envelopes.models import EnvelopeStatus, RecipientStatus
from app.envelopes.states import ACTIONABLE_RECIPIENT, DONE_RECIPIENT


class InQueue(Protocol):
    @property
    def status(self) -> RecipientStatus: ...


Q = TypeVar("Q", bound=InQueue)


def whose_turn(queue: Sequence[Q]) -> Q | None:
    """The first recipient, in order, who has not acted yet; None once everyone has."""
    return next((r for r in queue if r.status not in DONE_RECIPIENT), None)


def told_of_cancel(queue: Sequence[Q]) -> list[Q]:
    """Those who know of the envelope: invited (and not yet acted) or already done.
    Recipients still waiting never heard of it, and hear nothing now."""
    return [r for r in queue if r.status in ACTIONABLE_RECIPIENT or r.status in DONE_RECIPIENT]


def skipped_at_end(status: RecipientStatus) -> bool:
    """Whether a recipient is skipped when the envelope ends early (not acted, not declined)."""
    return status is RecipientStatus.waiting or status in ACTIONABLE_RECIPIENT


def has_expired(status: EnvelopeStatus, expires_at: datetime | None, now: datetime) -> bool:
    return status is EnvelopeStatus.in_progress and expires_at is not None and expires_at <= now


def reminder_due(status: RecipientStatus, due_at: datetime | None, now: datetime) -> bool:
    """A scheduled reminder goes to a recipient whose turn it is, once its time has come."""
    return status in ACTIONABLE_RECIPIENT and due_at is not None and due_at <= now


def next_reminder_at(
    now: datetime, *, interval_days: int | None, max_count: int | None, sent: int
) -> datetime | None:
    """After `sent` reminders: when the next one is due, or None when the schedule is spent."""
    if not interval_days or not max_count or sent >= max_count:
        return None
    return now + timedelta(days=interval_days)


def first_reminder_at(
    now: datetime, *, interval_days: int | None, max_count: int | None
) -> datetime | None:
    """At invitation: the first scheduled reminder, if the envelope has a schedule."""
    return next_reminder_at(now, interval_days=interval_days, max_count=max_count, sent=0)


def manual_reminder_wait(
    last_at: datetime | None, now: datetime, cooldown: timedelta
) -> timedelta | None:
    """How long until a reminder on request is allowed again; None when it is allowed now."""
    if last_at is None or now >= last_at + cooldown:
        return None
    return last_at + cooldown - now


StepName = Literal["email", "sms", "identity", "sign"]
StepStatus = Literal["done", "pending", "blocked"]


@dataclass(frozen=True)
class CeremonyState:
    """What the signer's steps depend on, as plain values."""

    sms: bool  # the level asks for an SMS code
    identity: bool  # the level asks for an identity check
    acted: bool  # signed or approved (or their signature is being applied)
    my_turn: bool
    sms_verified: bool = False
    sms_blocked: bool = False  # locked after wrong codes, or the phone cannot be reached
    identity_done: bool = False


def ceremony_steps(state: CeremonyState) -> list[tuple[StepName, StepStatus]]:
    """The recipient's steps in order: the link proves the email; then the SMS code, the
    identity check, and the signature (or approval), each open once those before it are done."""
    names: list[StepName] = ["email"]
    names += ["sms"] if state.sms else []
    names += ["identity"] if state.identity else []
    names.append("sign")
    if state.acted:
        return [(name, "done") for name in names]
    done = {"email": True, "sms": state.sms_verified, "identity": state.identity_done}
    steps: list[tuple[StepName, StepStatus]] = []
    open_so_far = state.my_turn
    for name in names:
        if done.get(name, False):
            steps.append((name, "done"))
            continue
        blocked = not open_so_far or (name == "sms" and state.sms_blocked)
        steps.append((name, "blocked" if blocked else "pending"))
        open_so_far = False  # a step not done keeps those after it closed
    return steps
