"""The one-time code's rules, table-driven: the send limits and what an entered code does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.workflow.otp_rules import CodeState, OtpPolicy, Verdict, judge, phone_hint, send_wait

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
POLICY = OtpPolicy()
S = timedelta(seconds=1)
M = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("sent", "wait"),
    [
        ([], None),
        ([NOW - 31 * S], None),
        ([NOW - 10 * S], 20 * S),  # one resend per 30 s
        ([NOW - 10 * M, NOW - 5 * M], None),
        ([NOW - 14 * M, NOW - 10 * M, NOW - 5 * M], 1 * M),  # the 4th in 15 min waits
        ([NOW - 16 * M, NOW - 10 * M, NOW - 5 * M], None),  # the first has left the window
        ([NOW - 14 * M, NOW - 10 * M, NOW - 10 * S], 1 * M),  # both limits: the longer wait
        ([NOW - 20 * M, NOW - 19 * M, NOW - 18 * M], None),
    ],
)
def test_send_wait(sent: list[datetime], wait: timedelta | None) -> None:
    assert send_wait(sent, NOW, POLICY) == wait


FRESH = CodeState(expires_at=NOW + 4 * M, tries_used=0, closed=False)


@pytest.mark.parametrize(
    ("state", "matches", "failures", "verdict"),
    [
        (FRESH, True, 0, Verdict.accepted),
        (FRESH, False, 0, Verdict.wrong),
        (CodeState(NOW + 4 * M, 3, False), False, 3, Verdict.wrong),
        (CodeState(NOW + 4 * M, 4, False), False, 4, Verdict.spent),  # the 5th try on a code
        (CodeState(NOW + 4 * M, 4, False), True, 4, Verdict.accepted),
        (CodeState(NOW + 4 * M, 5, False), True, 5, Verdict.exhausted),  # spent: even right
        (CodeState(NOW + 4 * M, 5, False), False, 9, Verdict.exhausted),  # counts no failure
        (CodeState(NOW + 4 * M, 1, False), False, 9, Verdict.locked),  # the signer's 10th
        (CodeState(NOW + 4 * M, 1, False), True, 9, Verdict.accepted),
        (CodeState(NOW, 0, False), True, 0, Verdict.expired),  # at its deadline: gone
        (CodeState(NOW - S, 0, False), False, 9, Verdict.expired),  # counts no failure
        (CodeState(NOW + 4 * M, 0, True), True, 0, Verdict.used),  # single use
        (CodeState(NOW + 4 * M, 0, True), False, 9, Verdict.used),
    ],
)
def test_judge(state: CodeState, matches: bool, failures: int, verdict: Verdict) -> None:
    assert judge(state, matches=matches, failures=failures, now=NOW, policy=POLICY) is verdict


@pytest.mark.parametrize(
    ("number", "hint"),
    [
        ("+33612345678", "+33 6 •• •• •• 78"),
        ("+447700900123", "+44 ••••••••23"),
        ("+14155550142", "+1 ••••••••42"),
    ],
)
def test_phone_hint(number: str, hint: str) -> None:
    assert phone_hint(number) == hint
