"""Shared fixtures: a real database (SQLite, or PostgreSQL via LAWBOT_TEST_DATABASE_URL), the
shipped knowledge base and a real matcher, the reference-town config."""

from __future__ import annotations

import os

os.environ.setdefault(
    "PTB_TIMEDELTA", "1"
)  # opt in to PTB's timedelta retry_after (no deprecation warning)

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.config import Config, load_config
from bot.services.consultation import ConsultationService
from bot.wiring import load_knowledge, match_settings
from knowledge.laws import LawLibrary, default_laws_dir
from knowledge.loader import load_kb
from knowledge.matcher import Matcher
from knowledge.models import KnowledgeBase
from knowledge.templates import fill_fields
from storage.clock import ManualClock
from storage.db import Database

ROOT = Path(__file__).resolve().parent.parent
LAWS_DIR = Path(os.environ.get("LAWBOT_LAWS_DIR", default_laws_dir()))
PG_ENV = "LAWBOT_TEST_DATABASE_URL"


def postgres_url() -> str | None:
    """Return the PostgreSQL URL the suite runs against, or None for SQLite."""
    return os.environ.get(PG_ENV) or None


def skip_or_fail(reason: str) -> None:
    """Skip locally; in CI (CI=true) a test that would skip is a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"would skip in CI: {reason}")
    pytest.skip(reason)


def fresh_database(tmp_path: Path) -> Database:
    """Return an empty, migrated database of the backend under test."""
    url = postgres_url()
    if url is None:
        db = Database(f"sqlite:///{tmp_path / 'test.sqlite3'}")
    else:
        db = Database(url)
        try:
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        except Exception as exc:
            skip_or_fail(f"PostgreSQL not reachable at {url}: {exc}")
        assert db.backend == "postgresql"
    db.upgrade()
    return db


@pytest.fixture(name="db")
def db_fixture(tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database (one per test)."""
    db = fresh_database(tmp_path)
    yield db
    db.dispose()


@pytest.fixture(name="laws_dir", scope="session")
def laws_dir_fixture() -> Path:
    """The statute texts shipped with the package (or $LAWBOT_LAWS_DIR)."""
    if not LAWS_DIR.is_dir():
        skip_or_fail(f"law texts not found at {LAWS_DIR}")
    return LAWS_DIR


@pytest.fixture(name="config", scope="session")
def config_fixture() -> Config:
    """The example configuration: the reference town with its 12 villages."""
    return load_config(ROOT / "config.example.toml")


@pytest.fixture(name="kb", scope="session")
def kb_fixture(config: Config) -> KnowledgeBase:
    """The shipped knowledge base, its place fields filled for the reference town."""
    return fill_fields(load_kb(), config.kb_fields())


@pytest.fixture(name="matcher", scope="session")
def matcher_fixture(kb: KnowledgeBase, config: Config) -> Matcher:
    """The real matcher over the shipped KB, lexical signals only (fast to build)."""
    return Matcher(kb, match_settings(config, semantic=False))


# 08:00 in Asia/Shanghai on a Friday: +12 h, +24 h and +48 h all fall outside the quiet hours.
MORNING = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


@pytest.fixture(name="clock")
def clock_fixture() -> ManualClock:
    """The service clock, standing at a fixed weekday morning: no test depends on today's date."""
    return ManualClock(MORNING)


@pytest.fixture(name="service")
def service_fixture(
    config: Config,
    kb: KnowledgeBase,
    matcher: Matcher,
    db: Database,
    laws_dir: Path,
    clock: ManualClock,
) -> ConsultationService:
    """The consultation service on a fresh database, with law texts available."""
    service = ConsultationService.create(config, kb, matcher, db, kb_source=load_knowledge)
    service.laws = LawLibrary(laws_dir)
    service.clock = clock
    return service


def pytest_configure(config: pytest.Config) -> None:
    """Register the backend marker."""
    config.addinivalue_line(
        "markers",
        "backend(name): runs only in the suite run against that database (sqlite|postgresql)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip) tests written for the other database; each run covers its own."""
    current = "postgresql" if postgres_url() else "sqlite"
    other = [i for i in items if (m := i.get_closest_marker("backend")) and m.args[0] != current]
    if other:
        config.hook.pytest_deselected(items=other)
        items[:] = [i for i in items if i not in other]
