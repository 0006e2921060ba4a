"""The service's notion of now: real time plus an offset that tests can move forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Expiry, reminders, sessions and cool-downs read this, never datetime.now() directly."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        self._offset += delta
