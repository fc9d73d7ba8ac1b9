"""Console accounts: create, sign in with lockout, change passwords, and the audit log.

Passwords are hashed with argon2id (argon2-cffi); a wrong password counts against the account,
and after `MAX_FAILURES` in a row it is locked for `LOCK_MINUTES` whatever is typed. Every change
made through the console or `lawbot users` is recorded with who, what and when.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import Session

from bot.config import Config
from bot.services.privacy import mask_numbers
from storage import console_models as cm
from storage.clock import as_utc
from storage.db import Database

__all__ = [
    "ROLES",
    "AccountError",
    "AccountService",
    "Identity",
    "SignIn",
]

ROLES = ("staff", "admin", "advisor")
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
MIN_PASSWORD = 10
MAX_FAILURES = 5
LOCK_MINUTES = 15


class AccountError(ValueError):
    """An account request that cannot be carried out; the message says why (Chinese first)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is signed in: name, role, the villages they see (None: the whole town)."""

    name: str
    role: str
    villages: tuple[str, ...] | None
    telegram_id: str | None

    @property
    def is_admin(self) -> bool:
        """Admins manage accounts and read the audit log."""
        return self.role == "admin"

    def sees(self, village_code: str | None) -> bool:
        """Tell whether this person may see a village's consultations."""
        return self.villages is None or village_code in self.villages


@dataclass(frozen=True, slots=True)
class SignIn:
    """The outcome of a sign-in: the identity, or why not (`wrong`, `locked`, `disabled`)."""

    identity: Identity | None
    problem: str | None = None
    locked_until: datetime | None = None


@dataclass
class AccountService:
    """Accounts over the database, with the service clock."""

    config: Config
    db: Database
    clock: Callable[[], datetime]
    hasher: PasswordHasher = field(default_factory=PasswordHasher)

    def add(
        self,
        name: str,
        role: str,
        password: str,
        *,
        villages: Sequence[str] = (),
        telegram_id: str | None = None,
        actor: str = "cli",
    ) -> Identity:
        """Create an account; advisors need at least one village of the config."""
        if not NAME.fullmatch(name):
            raise AccountError(
                "用户名只能用小写字母、数字和 . _ -，2–32 位 / name must be a-z 0-9 . _ -"
            )
        if role not in ROLES:
            raise AccountError(
                f"角色应为 {'/'.join(ROLES)} / role must be one of {', '.join(ROLES)}"
            )
        unknown = [v for v in villages if self.config.village(v) is None]
        if unknown:
            raise AccountError(f"没有这个村 / unknown village: {', '.join(unknown)}")
        if role == "advisor" and not villages:
            raise AccountError("法律顾问账号要指定村 / an advisor needs --village")
        self._check_password(password)
        now = self.clock()
        with self.db.session() as session:
            if cm.user_by_name(session=session, name=name) is not None:
                raise AccountError(f"用户名已存在 / account exists: {name}")
            user = cm.WebUser(
                name=name,
                role=role,
                villages=",".join(villages) if role == "advisor" else "",
                telegram_id=telegram_id,
                password_hash=self.hasher.hash(password),
                created_at=now,
            )
            session.add(user)
            cm.add_audit(
                session=session, now=now, actor=actor, action="user.add", target=name,
                detail=f"role={role} villages={','.join(villages)}",
            )  # fmt: skip
            return self._identity(user)

    def set_password(self, name: str, password: str, *, actor: str) -> None:
        """Set a new password and lift any lockout."""
        self._check_password(password)
        with self.db.session() as session:
            user = self._get(session, name)
            user.password_hash = self.hasher.hash(password)
            user.failed_logins, user.locked_until = 0, None
            session.add(user)
            cm.add_audit(
                session=session, now=self.clock(), actor=actor, action="user.password", target=name
            )

    def disable(self, name: str, *, actor: str) -> None:
        """Disable an account: it can no longer sign in (its history stays)."""
        with self.db.session() as session:
            user = self._get(session, name)
            user.disabled_at = self.clock()
            session.add(user)
            cm.add_audit(
                session=session, now=self.clock(), actor=actor, action="user.disable", target=name
            )

    def sign_in(self, name: str, password: str) -> SignIn:
        """Check a name and password; count failures and lock after `MAX_FAILURES`."""
        now = self.clock()
        with self.db.session() as session:
            user = cm.user_by_name(session=session, name=name.strip().lower())
            if user is None:
                self.hasher.hash(password)  # about the same time as a real check
                return SignIn(None, "wrong")
            if user.disabled_at is not None:
                return SignIn(None, "disabled")
            if user.locked_until is not None and as_utc(user.locked_until) > now:
                return SignIn(None, "locked", as_utc(user.locked_until))
            if self._verify(user.password_hash, password):
                user.failed_logins, user.locked_until = 0, None
                if self.hasher.check_needs_rehash(user.password_hash):
                    user.password_hash = self.hasher.hash(password)
                session.add(user)
                cm.add_audit(session=session, now=now, actor=user.name, action="login")
                return SignIn(self._identity(user))
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILURES:
                user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
                user.failed_logins = 0
                cm.add_audit(session=session, now=now, actor=user.name, action="login.locked")
            session.add(user)
            return SignIn(None, "wrong")

    def identity(self, name: str) -> Identity | None:
        """The current identity of an active account (roles may change while signed in)."""
        with self.db.session() as session:
            user = cm.user_by_name(session=session, name=name)
            if user is None or user.disabled_at is not None:
                return None
            return self._identity(user)

    def accounts(self) -> list[cm.WebUser]:
        """Every account, by name."""
        with self.db.session() as session:
            return list(cm.users(session=session))

    def audit(self, actor: str, action: str, target: str = "", detail: str = "") -> None:
        """Record a change made by `actor` (numbers in the detail masked, as in every stored text)."""
        with self.db.session() as session:
            cm.add_audit(
                session=session, now=self.clock(), actor=actor, action=action, target=target,
                detail=mask_numbers(detail)[:2000],
            )  # fmt: skip

    def audit_log(self, *, limit: int = 200, offset: int = 0) -> list[cm.AuditEntry]:
        """The newest audit entries first."""
        with self.db.session() as session:
            return list(cm.audit_entries(session=session, limit=limit, offset=offset))

    # --- internals ----------------------------------------------------------------------------

    def _verify(self, stored: str, password: str) -> bool:
        if not stored:
            return False
        try:
            return self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise AccountError(
                f"密码至少 {MIN_PASSWORD} 位 / the password needs at least {MIN_PASSWORD} characters"
            )

    @staticmethod
    def _get(session: Session, name: str) -> cm.WebUser:
        user = cm.user_by_name(session=session, name=name)
        if user is None:
            raise AccountError(f"没有这个账号 / no such account: {name}")
        return user

    @staticmethod
    def _identity(user: cm.WebUser) -> Identity:
        villages = user.village_codes() if user.role == "advisor" else None
        return Identity(user.name, user.role, villages, user.telegram_id)
