"""Migrations run up from empty and back down on the backend under test (SQLite or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from storage.db import Database
from tests.conftest import fresh_database

TABLES = {"villager", "consultation", "escalation", "escalationevent", "feedback"}


def _tables(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names())


def test_upgrade_from_empty_creates_every_table_at_head(tmp_path: Path) -> None:
    db = fresh_database(tmp_path)
    assert _tables(db) >= TABLES
    assert db.current_revision() is not None
    db.dispose()


def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    db = fresh_database(tmp_path)
    head = db.current_revision()
    db.downgrade("base")
    assert not TABLES & _tables(db)
    db.upgrade()
    assert db.current_revision() == head
    assert _tables(db) >= TABLES
    db.dispose()


def test_upgrade_is_idempotent(db: Database) -> None:
    before = db.current_revision()
    db.upgrade()
    assert db.current_revision() == before


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'wal.sqlite3'}")
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert int(connection.execute(text("PRAGMA busy_timeout")).scalar() or 0) >= 1000
    db.dispose()


def test_upgrading_keeps_the_rows_of_earlier_revisions(tmp_path: Path) -> None:
    db = fresh_database(tmp_path)
    db.downgrade("base")
    db.upgrade("0001")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO villager (channel, channel_user_id, label, role, subscribed, elder_mode,"
                " active, created_at, last_seen_at) VALUES ('telegram', '1', 'x', 'villager', true,"
                " false, true, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
    db.upgrade()
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM villager")).scalar() == 1
    db.dispose()
