"""The service's notion of now: real time plus an offset that tests can move forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def system_now() -> datetime:
    """The system clock, for what the outside world dates: certificates and CRLs issued at
    start, an email's Date header, an HTTP date sent to us. The service's own decisions
    (expiry, reminders, sessions, cool-downs) read Clock.now(), which tests move."""
    return datetime.now(UTC)


class Clock:
    """Expiry, reminders, sessions and cool-downs read this, never datetime.now() directly."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return system_now() + self._offset

    def advance(self, delta: timedelta) -> None:
        self._offset += delta
