"""The one-time code's rules as pure functions (NIST SP 800-63B; quality.md R9): when a code
may be sent, and what an entered code does. The service applies them in workflow/otp.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import phonenumbers


@dataclass(frozen=True)
class OtpPolicy:
    lifetime: timedelta = timedelta(minutes=5)
    tries_per_code: int = 5
    failures_before_lock: int = 10
    sends_per_window: int = 3
    window: timedelta = timedelta(minutes=15)
    resend_after: timedelta = timedelta(seconds=30)


def send_wait(sent_at: Sequence[datetime], now: datetime, policy: OtpPolicy) -> timedelta | None:
    """None when a code may be sent now; else how long until one may: at most one send per
    `resend_after`, and `sends_per_window` in any `window`."""
    recent = sorted(t for t in sent_at if t > now - policy.window)
    waits = []
    if recent and now < recent[-1] + policy.resend_after:
        waits.append(recent[-1] + policy.resend_after - now)
    if len(recent) >= policy.sends_per_window:
        waits.append(recent[-policy.sends_per_window] + policy.window - now)
    return max(waits) if waits else None


class Verdict(StrEnum):
    accepted = "accepted"
    wrong = "wrong"  # the code stays usable while tries are left
    spent = "spent"  # wrong, and that was the code's last try
    locked = "locked"  # wrong, and the signer's failures reach the lock
    expired = "expired"
    exhausted = "exhausted"  # its tries are spent: not even the right code opens it now
    used = "used"  # this code was accepted already, or replaced by a newer one


@dataclass(frozen=True)
class CodeState:
    expires_at: datetime
    tries_used: int
    closed: bool  # accepted before, or replaced by a newer code


def judge(
    state: CodeState, *, matches: bool, failures: int, now: datetime, policy: OtpPolicy
) -> Verdict:
    """What entering a code does. `failures` counts the signer's wrong codes before this one;
    only a wrong code counts, and only against a code that could still be accepted."""
    if state.closed:
        return Verdict.used
    if now >= state.expires_at:
        return Verdict.expired
    if state.tries_used >= policy.tries_per_code:
        return Verdict.exhausted
    if matches:
        return Verdict.accepted
    if failures + 1 >= policy.failures_before_lock:
        return Verdict.locked
    if state.tries_used + 1 >= policy.tries_per_code:
        return Verdict.spent
    return Verdict.wrong


def tries_left(tries_used: int, policy: OtpPolicy) -> int:
    return max(policy.tries_per_code - tries_used, 0)


def phone_hint(e164: str) -> str:
    """The number as its owner recognises it, all but the country code and the last two digits
    hidden: `+33 6 •• •• •• 78` for a French mobile, `+44 ••••••••23` elsewhere."""
    country = str(phonenumbers.parse(e164, None).country_code)
    national = e164[1 + len(country) :]
    if country == "33" and len(national) == 9:
        return f"+33 {national[0]} •• •• •• {national[-2:]}"
    return f"+{country} {'•' * (len(national) - 2)}{national[-2:]}"
