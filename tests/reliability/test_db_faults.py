"""Database faults: SQLite locked by another process, PostgreSQL stopped and restarted.

The bot retries while it cannot record, answers "系统繁忙" only when it still cannot, holds the
update in its journal and handles it once the database is back: nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot import texts
from bot.channels.telegram import reliability
from bot.services.consultation import ConsultationService
from knowledge.models import KnowledgeBase
from storage import db as storage_db
from tests.conftest import postgres_url, skip_or_fail
from tests.reliability.conftest import RBot, plain_questions, rows

LOCKER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("ROLLBACK")
"""


@pytest.fixture(name="quick_sqlite_busy")
def quick_sqlite_busy_fixture(
    service: ConsultationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert service.db.backend == "sqlite"
    monkeypatch.setattr(storage_db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    service.db.engine.dispose()  # new connections get the short busy timeout
    return


def _lock(db_path: str, seconds: float) -> subprocess.Popen[str]:
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, db_path, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert locker.stdout is not None
    assert locker.stdout.readline().strip() == "locked"
    return locker


def _policy(monkeypatch: pytest.MonkeyPatch, **kw: float) -> None:
    monkeypatch.setattr(reliability, "POLICY", reliability.RetryPolicy(**kw))


async def _settled(bot: RBot, last: int, within: float = 30) -> None:
    await bot.emulator.wait_for(lambda: bot.emulator.confirmed_offset > last, within=within)
    await bot.emulator.wait_for(
        lambda: not bot.journal.in_flight and not bot.journal.pending(), within=within
    )


@pytest.mark.usefixtures("quick_sqlite_busy")
@pytest.mark.backend("sqlite")
async def test_a_short_lock_is_waited_out_without_a_busy_note(
    rbot: RBot, kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    _policy(monkeypatch, busy_after=10, hold_seconds=30)
    questions = plain_questions(rbot.service, 10)
    locker = _lock(str(rbot.service.db.engine.url.database), 2.0)
    users = list(range(8001, 8011))
    last = 0
    for i, user in enumerate(users):
        last = rbot.emulator.send_text(user, questions[i])
    await _settled(rbot, last)
    locker.wait()
    for user in users:
        assert len(rbot.emulator.texts_to(user)) == 1
        assert texts.BUSY not in rbot.emulator.texts_to(user)
    assert len(rows(rbot.service)) == len(users)
    assert all(r.replied_at for r in rows(rbot.service))
    assert not rbot.errors


@pytest.mark.usefixtures("quick_sqlite_busy")
@pytest.mark.backend("sqlite")
async def test_a_long_lock_gets_a_busy_note_and_the_update_is_held_and_answered(
    rbot: RBot, kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    _policy(monkeypatch, first_delay=0.05, max_delay=0.2, busy_after=0.3, hold_seconds=0.8)
    questions = plain_questions(rbot.service, 5)
    locker = _lock(str(rbot.service.db.engine.url.database), 3.0)
    users = list(range(8101, 8106))
    for i, user in enumerate(users):
        rbot.emulator.send_text(user, questions[i])
    await rbot.emulator.wait_for(
        lambda: all(texts.BUSY in rbot.emulator.texts_to(u) for u in users), within=20
    )
    assert not rows(rbot.service)
    assert len(rbot.journal.entries) == len(users)
    locker.wait()
    await rbot.emulator.wait_for(lambda: len(rows(rbot.service)) == len(users), within=20)
    await _settled(rbot, 0)
    for i, user in enumerate(users):
        said = rbot.emulator.texts_to(user)
        assert said[0] == texts.BUSY
        assert len(said) == 2
        entry = rbot.service.matcher.match(questions[i]).entry
        assert entry is not None
        assert said[1].startswith(entry.answer[:20])
    assert all(r.replied_at for r in rows(rbot.service))


def _has_cluster() -> bool:
    return Path("/etc/postgresql").is_dir()


def _pg(action: str) -> None:
    clusters = os.listdir("/etc/postgresql")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", clusters[0], "main", action],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.backend("postgresql")
async def test_postgresql_stopped_and_restarted_during_traffic(
    rbot: RBot, kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert postgres_url() is not None
    assert rbot.service.db.backend == "postgresql"
    if not _has_cluster():
        skip_or_fail("no local PostgreSQL cluster to stop")
    _policy(monkeypatch, first_delay=0.1, max_delay=1.0, busy_after=10, hold_seconds=60)
    em = rbot.emulator
    users = list(range(8201, 8241))
    questions = plain_questions(rbot.service, len(users))
    last = 0
    try:
        for i, user in enumerate(users[:10]):
            last = em.send_text(user, questions[i])
        await _settled(rbot, last)
        _pg("stop")
        stopped = time.monotonic()
        for i, user in enumerate(users[10:30], start=10):
            last = em.send_text(user, questions[i])
        await asyncio.sleep(3.0)
    finally:
        _pg("start")
    restarted = time.monotonic() - stopped
    for i, user in enumerate(users[30:], start=30):
        last = em.send_text(user, questions[i])
    await _settled(rbot, last, within=90)
    await em.wait_for(lambda: all(len(em.texts_to(u)) == 1 for u in users), within=60)
    assert restarted >= 3.0
    recorded = rows(rbot.service)
    assert len(recorded) == len(users)
    assert len({r.update_key for r in recorded}) == len(users)
    assert all(texts.BUSY not in em.texts_to(u) for u in users)
