"""Time as stored: aware UTC datetimes everywhere (SQLModel's UTCDateTime enforces it)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utcnow"]


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)
