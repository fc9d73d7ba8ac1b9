"""SQLModel tables of the HTTP API channel: API keys (stored hashed) and the stored replies that
make a repeated `message_id` return the same body. Repository functions take the time (`now`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Column, Text, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from storage.clock import utcnow

__all__ = [
    "ApiKey",
    "ApiResponse",
    "active_key_name",
    "api_key_by_name",
    "api_keys",
    "prune_responses",
    "put_api_key",
    "revoke_api_key",
    "store_response",
    "stored_response",
]


class ApiKey(SQLModel, table=True):
    """A key an integrator sends as `Authorization: Bearer …`; only its SHA-256 is stored."""

    __tablename__ = "apikey"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=32, unique=True)  # namespaces the key's users: `name:user`
    key_hash: str = Field(max_length=64, unique=True)  # sha256 hex of the key
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class ApiResponse(SQLModel, table=True):
    """The JSON body answered to one `message_id`, returned again when the id is repeated."""

    __tablename__ = "apiresponse"

    id: int | None = Field(default=None, primary_key=True)
    update_key: str = Field(max_length=64, unique=True)  # http:<key name>:<message id>
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)


def api_key_by_name(*, session: Session, name: str) -> ApiKey | None:
    """Return the key of this name (active or revoked), or None."""
    return session.exec(select(ApiKey).where(ApiKey.name == name)).first()


def put_api_key(*, session: Session, name: str, key_hash: str, now: datetime) -> ApiKey:
    """Store a new key under `name`; a revoked key's row is reused so its users keep their id.

    The caller checks that no active key has the name (`api_key_by_name`).
    """
    key = api_key_by_name(session=session, name=name)
    if key is None:
        key = ApiKey(name=name, key_hash=key_hash, created_at=now)
    else:
        key.key_hash, key.created_at, key.revoked_at = key_hash, now, None
    session.add(key)
    session.flush()
    return key


def revoke_api_key(*, session: Session, name: str, now: datetime) -> bool:
    """Revoke the active key of this name; False when there is none."""
    key = api_key_by_name(session=session, name=name)
    if key is None or key.revoked_at is not None:
        return False
    key.revoked_at = now
    session.add(key)
    return True


def api_keys(*, session: Session) -> Sequence[ApiKey]:
    """Every key, active and revoked, by name."""
    return session.exec(select(ApiKey).order_by(col(ApiKey.name))).all()


def active_key_name(*, session: Session, key_hash: str) -> str | None:
    """Return the name of the active key with this hash, or None."""
    statement = select(ApiKey.name).where(
        ApiKey.key_hash == key_hash, col(ApiKey.revoked_at).is_(None)
    )
    return session.exec(statement).first()


def stored_response(*, session: Session, update_key: str) -> str | None:
    """Return the body answered to this update key, or None."""
    statement = select(ApiResponse.body).where(ApiResponse.update_key == update_key)
    return session.exec(statement).first()


def store_response(*, session: Session, update_key: str, body: str, now: datetime) -> str:
    """Store the body for an update key unless one is stored; return the body that is (race-safe)."""
    try:
        with session.begin_nested():
            session.add(ApiResponse(update_key=update_key, body=body, created_at=now))
    except IntegrityError:
        existing = stored_response(session=session, update_key=update_key)
        if existing is None:
            raise
        return existing
    return body


def prune_responses(*, session: Session, before: datetime) -> int:
    """Delete stored bodies older than `before` (past the idempotency window)."""
    result = session.execute(delete(ApiResponse).where(col(ApiResponse.created_at) < before))
    return int(getattr(result, "rowcount", 0) or 0)
