"""SQLModel tables of the staff web console: accounts (argon2 hashes only) and the audit log.

Repository functions take the time (`now`) from the caller, like the rest of `storage`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, Session, SQLModel, col, select

from storage.clock import utcnow

__all__ = [
    "AuditEntry",
    "WebUser",
    "add_audit",
    "audit_entries",
    "user_by_name",
    "users",
]


class WebUser(SQLModel, table=True):
    """A person who signs in to the console: staff, admin or a village's advisor."""

    __tablename__ = "webuser"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=32, unique=True)
    role: str = Field(max_length=16)  # staff | admin | advisor
    villages: str = Field(default="", max_length=400)  # comma-separated village codes (advisor)
    telegram_id: str | None = Field(default=None, max_length=32)
    password_hash: str = Field(default="", max_length=200)  # argon2id; empty: not set yet
    failed_logins: int = 0
    locked_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    disabled_at: datetime | None = None

    def village_codes(self) -> tuple[str, ...]:
        """The villages this account sees (advisors); empty for staff and admins."""
        return tuple(c for c in self.villages.split(",") if c)


class AuditEntry(SQLModel, table=True):
    """One change made through the console or the user commands: who, what, when."""

    __tablename__ = "auditentry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=32, index=True)
    action: str = Field(max_length=48)
    target: str = Field(default="", max_length=64)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


def user_by_name(*, session: Session, name: str) -> WebUser | None:
    """Return the account of this name, or None."""
    return session.exec(select(WebUser).where(WebUser.name == name)).first()


def users(*, session: Session) -> Sequence[WebUser]:
    """Every account, by name."""
    return session.exec(select(WebUser).order_by(col(WebUser.name))).all()


def add_audit(
    *, session: Session, now: datetime, actor: str, action: str, target: str = "", detail: str = ""
) -> AuditEntry:
    """Record one change."""
    entry = AuditEntry(at=now, actor=actor, action=action, target=target, detail=detail)
    session.add(entry)
    session.flush()
    return entry


def audit_entries(*, session: Session, limit: int = 200, offset: int = 0) -> Sequence[AuditEntry]:
    """The newest audit entries first."""
    statement = select(AuditEntry).order_by(col(AuditEntry.id).desc()).offset(offset).limit(limit)
    return session.exec(statement).all()
