"""Time as stored: aware UTC datetimes everywhere (SQLModel's UTCDateTime enforces it).

The product reads time through one injectable clock (`Clock`): `utcnow` in production, a
`ManualClock` in tests and for generated demo history, so nothing depends on today's date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "ManualClock", "as_utc", "utcnow"]

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Return the moment as aware UTC; a naive one (SQLite without an offset) is taken as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class ManualClock:
    """A clock that stands still until it is set or advanced (tests, generated history)."""

    def __init__(self, now: datetime) -> None:
        self.now = as_utc(now)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock forward by `timedelta(**delta)`."""
        self.now += timedelta(**delta)

    def set(self, moment: datetime) -> None:
        """Move the clock to `moment`."""
        self.now = as_utc(moment)
