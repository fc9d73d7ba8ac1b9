"""API keys of the HTTP channel: 32 random bytes shown once, stored as their SHA-256.

A key's name namespaces its users (`name:user`), so a key that replaces a revoked one under the
same name keeps that integrator's villagers and their history. `LAWBOT_API_KEY` adds one key
named `env` that lives only in the environment.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from storage import api_models
from storage.clock import utcnow
from storage.db import Database

__all__ = ["ENV_KEY", "ENV_NAME", "ApiKeyError", "ApiKeyInfo", "ApiKeys", "hash_key", "new_key"]

ENV_KEY = "LAWBOT_API_KEY"
ENV_NAME = "env"
KEY_PREFIX = "lbk_"
KEY_BYTES = 32
# `http:<name>:<message id ≤ 40>` must fit the 64-character update key, `<name>:<user ≤ 40>` the
# 64-character channel user id.
NAME_MAX = 16
_NAME = re.compile(rf"^[a-z0-9][a-z0-9_-]{{0,{NAME_MAX - 1}}}$")


class ApiKeyError(Exception):
    """A key cannot be created or revoked; the message is for the operator."""


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """A stored key as listed (never the key itself)."""

    name: str
    created_at: datetime
    revoked_at: datetime | None


def new_key() -> str:
    """Return a fresh key: a prefix and 32 random bytes, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def hash_key(key: str) -> str:
    """Return the SHA-256 of a key as hex (what the database stores)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass
class ApiKeys:
    """Create, revoke, list and check API keys in the database (and the one from the env)."""

    db: Database
    clock: Callable[[], datetime] = utcnow
    env_key: str | None = field(
        default_factory=lambda: os.environ.get(ENV_KEY, "").strip() or None
    )

    def create(self, name: str) -> str:
        """Create a key named `name` and return it (the only time it is shown)."""
        name = name.strip()
        if not _NAME.fullmatch(name):
            raise ApiKeyError(
                f"密钥名称须为 1–{NAME_MAX} 个小写字母、数字、- 或 _ / the name must be 1–{NAME_MAX} "
                f"of a-z 0-9 - _, starting with a letter or digit: {name!r}"
            )
        if name == ENV_NAME:
            raise ApiKeyError(
                f"名称 {ENV_NAME} 留给 {ENV_KEY} / the name {ENV_NAME!r} is reserved for {ENV_KEY}"
            )
        key = new_key()
        with self.db.session() as session:
            existing = api_models.api_key_by_name(session=session, name=name)
            if existing is not None and existing.revoked_at is None:
                raise ApiKeyError(
                    f"已有同名的有效密钥，请先吊销 / an active key named {name!r} exists; "
                    "revoke it first"
                )
            api_models.put_api_key(
                session=session, name=name, key_hash=hash_key(key), now=self.clock()
            )
        return key

    def revoke(self, name: str) -> None:
        """Revoke the active key named `name` (its requests get 401 from now on)."""
        with self.db.session() as session:
            if not api_models.revoke_api_key(session=session, name=name.strip(), now=self.clock()):
                raise ApiKeyError(f"没有名为 {name!r} 的有效密钥 / no active key named {name!r}")

    def entries(self) -> list[ApiKeyInfo]:
        """Every stored key, active and revoked, by name."""
        with self.db.session() as session:
            return [
                ApiKeyInfo(k.name, k.created_at, k.revoked_at)
                for k in api_models.api_keys(session=session)
            ]

    def authenticate(self, key: str) -> str | None:
        """Return the name of the active key `key`, or None (unknown, revoked or malformed)."""
        key = key.strip()
        if not key or len(key) > 256:
            return None
        digest = hash_key(key)
        if self.env_key is not None and hmac.compare_digest(digest, hash_key(self.env_key)):
            return ENV_NAME
        with self.db.session() as session:
            return api_models.active_key_name(session=session, key_hash=digest)
