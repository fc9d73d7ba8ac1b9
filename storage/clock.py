"""Time as stored: aware UTC datetimes everywhere (SQLModel's UTCDateTime enforces it)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["as_utc", "utcnow"]


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Return the moment as aware UTC; a naive one (SQLite without an offset) is taken as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
