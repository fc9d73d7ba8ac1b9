"""The offline-record and dispute tables: migration 0008 matches the models, goes down and up,
and the aggregates count by inclusive town dates."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (every table on the metadata)
from storage import record_models as rm
from storage.db import Database
from tests.conftest import fresh_database

TABLES = {"offlinerecord", "disputecase", "disputestep"}


def _diff_of_mine(db: Database) -> list[object]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    return [d for d in diff if any(t in repr(d) for t in TABLES)]


def test_migration_0008_creates_exactly_the_tables_of_the_models(db: Database) -> None:
    assert set(inspect(db.engine).get_table_names()) >= TABLES
    assert _diff_of_mine(db) == []


def test_migration_0008_goes_down_and_up_again(tmp_path: Path) -> None:
    db = fresh_database(tmp_path)
    head = db.current_revision()
    db.downgrade("0007")
    assert not TABLES & set(inspect(db.engine).get_table_names())
    db.upgrade()
    assert db.current_revision() == head
    assert set(inspect(db.engine).get_table_names()) >= TABLES
    db.dispose()


def _record(kind: str, day: date, **fields: object) -> rm.OfflineRecord:
    return rm.OfflineRecord(kind=kind, day=day, recorded_by="chen", **fields)  # type: ignore[arg-type]


def test_offline_counts_add_up_by_kind_within_inclusive_dates(db: Database) -> None:
    with db.session() as session:
        session.add(_record("hotline", date(2026, 2, 28)))  # the day before
        session.add(_record("hotline", date(2026, 3, 1)))
        session.add(_record("walk_in", date(2026, 3, 31), people=3, village_code="waihong"))
        session.add(_record("legal_opinion", date(2026, 3, 2), people=0, opinion_for="town"))
        session.add(_record("legal_opinion", date(2026, 3, 3), people=0, opinion_for="village"))
        session.add(
            _record("publicity_event", date(2026, 3, 9), people=0, materials=40, banners=1,
                    attendees=60)
        )  # fmt: skip
        session.add(_record("walk_in", date(2026, 4, 1)))  # the day after
    with db.session() as session:
        counts = rm.offline_counts(session=session, first=date(2026, 3, 1), last=date(2026, 3, 31))
        waihong = rm.offline_counts(
            session=session, first=date(2026, 3, 1), last=date(2026, 3, 31), villages=["waihong"]
        )
    assert (counts["hotline"].records, counts["hotline"].people) == (1, 1)
    assert (counts["walk_in"].records, counts["walk_in"].people) == (1, 3)
    opinion = counts["legal_opinion"]
    assert (opinion.records, opinion.for_town, opinion.for_village) == (2, 1, 1)
    event = counts["publicity_event"]
    assert (event.materials, event.banners, event.attendees) == (40, 1, 60)
    assert set(waihong) == {"walk_in"}


def test_dispute_counts_total_first_then_by_kind_and_the_open_count(db: Database) -> None:
    with db.session() as session:
        for kind, state, outcome, day in (
            ("land", "closed", "success", date(2026, 3, 1)),
            ("land", "open", None, date(2026, 3, 5)),
            ("family", "closed", "petition", date(2026, 3, 31)),
            ("family", "open", None, date(2026, 2, 1)),  # registered before the period
        ):
            session.add(
                rm.DisputeCase(
                    kind=kind, state=state, outcome=outcome, opened_on=day, opened_by="chen",
                    satisfaction="basic" if outcome else None,
                )
            )  # fmt: skip
    with db.session() as session:
        lines = rm.dispute_counts(session=session, first=date(2026, 3, 1), last=date(2026, 3, 31))
        open_now = rm.open_dispute_count(session=session)
    total, *kinds = lines
    assert (total.kind, total.registered, total.open) == (None, 3, 1)
    assert total.outcomes == {"success": 1, "petition": 1}
    assert total.satisfaction == {"basic": 2}
    assert [(k.kind, k.registered) for k in kinds] == [("family", 1), ("land", 2)]
    assert open_now == 2, "open today, whenever registered"
