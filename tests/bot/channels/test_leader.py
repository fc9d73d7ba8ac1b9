"""One scheduler leader per deployment: a PostgreSQL advisory lock (two databases' connections,
the leader's connection killed), a lock file on SQLite (a second process refuses), the serve
scheduler and the Telegram jobs gated by it."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.channels import metrics
from bot.channels.leader import AdvisoryLock, FileLock, Leader, gated, leader_for, lock_file_for
from bot.channels.scheduler import Scheduler
from bot.services.consultation import ConsultationService
from bot.services.outcomes import Notice
from bot.wiring import services_for
from storage.db import Database
from tests.conftest import postgres_url

TEST_KEY = 0x6C6177_7465_7374  # not the production key: a running bot on this server is left alone


async def _until(condition: Callable[[], bool], within: float = 10.0) -> float:
    """Wait until `condition()` holds; return the seconds it took (fail after `within`)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            pytest.fail(f"condition not met within {within} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def _terminate(db: Database, pid: int) -> None:
    """Kill a backend from another connection, as a dying worker's connection drops."""
    with db.engine.begin() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()


async def _polled_until_leading(leader: Leader, within: float = 10.0) -> float:
    """Poll as a standby does (faster) until it leads; return the seconds it took."""
    started = time.monotonic()
    while not await leader.poll():
        if time.monotonic() - started > within:
            pytest.fail(f"no lead within {within} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture(name="pg_leaders")
async def pg_leaders_fixture(db: Database) -> AsyncIterator[tuple[Leader, Leader]]:
    """Two leaders on two `Database` objects (two processes' worth of connections)."""
    url = postgres_url()
    assert url is not None
    first, second = Database(url), Database(url)
    a, b = leader_for(first, key=TEST_KEY), leader_for(second, key=TEST_KEY)
    assert isinstance(a.lock, AdvisoryLock)
    yield a, b
    for leader, database in ((a, first), (b, second)):
        await leader.close()
        database.dispose()


# --- PostgreSQL: advisory lock ------------------------------------------------------------------


@pytest.mark.backend("postgresql")
async def test_only_one_of_two_postgresql_processes_leads(
    pg_leaders: tuple[Leader, Leader],
) -> None:
    a, b = pg_leaders
    assert await a.poll() is True
    assert await b.poll() is False
    # polling again changes nothing: the leader confirms, the standby is still refused
    assert await a.poll() is True
    assert await b.poll() is False
    assert (a.leading, b.leading) == (True, False)


@pytest.mark.backend("postgresql")
async def test_the_standby_leads_once_the_leaders_connection_drops(
    pg_leaders: tuple[Leader, Leader], db: Database
) -> None:
    a, b = pg_leaders
    assert await a.poll()
    assert not await b.poll()
    assert isinstance(a.lock, AdvisoryLock)
    assert a.lock.backend_pid is not None
    _terminate(db, a.lock.backend_pid)
    # the server frees the lock with the session, as soon as the backend has exited
    assert await _polled_until_leading(b) < 5.0
    assert await a.poll() is False  # the old leader notices at its next check
    assert await a.poll() is False  # and reconnects as a standby
    assert b.leading


@pytest.mark.backend("postgresql")
async def test_closing_the_leader_hands_the_lead_over(pg_leaders: tuple[Leader, Leader]) -> None:
    a, b = pg_leaders
    assert await a.poll()
    assert not await b.poll()
    await a.close()
    assert await b.poll()
    assert not await a.poll()


@pytest.mark.backend("postgresql")
async def test_two_serve_schedulers_on_postgresql_one_runs_the_jobs_and_the_other_takes_over(
    service: ConsultationService, db: Database
) -> None:
    url = postgres_url()
    assert url is not None
    databases = [Database(url), Database(url)]
    schedulers = [
        Scheduler(
            services_for(service),
            _drop_notices,
            sweep_seconds=0.05,
            release_seconds=0.05,
            elect_seconds=0.05,
            leader=leader_for(database, key=TEST_KEY),
        )
        for database in databases
    ]
    try:
        async with schedulers[0].running(), schedulers[1].running():
            await _until(lambda: any(s.leading for s in schedulers))
            await asyncio.sleep(0.3)  # several election rounds: still exactly one
            [first] = [s for s in schedulers if s.leading]
            [other] = [s for s in schedulers if not s.leading]
            assert first.leader is not None
            assert isinstance(first.leader.lock, AdvisoryLock)
            assert first.leader.lock.backend_pid is not None
            _terminate(db, first.leader.lock.backend_pid)
            took = await _until(lambda: other.leading and not first.leading)
            assert took < 5.0  # well inside the 60 s the deployment promises
        assert not any(s.leading for s in schedulers)
    finally:
        for database in databases:
            database.dispose()


# --- SQLite: lock file --------------------------------------------------------------------------


@pytest.mark.backend("sqlite")
async def test_a_second_sqlite_process_refuses_the_scheduler_with_one_log_line(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    database = Database(db.url)
    first, second = leader_for(db), leader_for(database)
    assert isinstance(first.lock, FileLock)
    path = lock_file_for(db.url)
    assert path is not None
    assert path.parent == Path(db.engine.url.database or "").parent
    try:
        assert await first.poll()
        with caplog.at_level(logging.INFO, logger="bot.channels.leader"):
            assert not await second.poll()
            assert not await second.poll()
            await first.close()
            assert not await second.poll()  # refused for good, even once the first is gone
        refusals = [r for r in caplog.records if "scheduler not started" in r.getMessage()]
        assert len(refusals) == 1
        assert refusals[0].levelno == logging.WARNING
        assert str(path) in refusals[0].getMessage()
        assert "serves requests only" in refusals[0].getMessage()
        assert second.refused
    finally:
        await first.close()
        await second.close()
        database.dispose()


HOLDER = """
import asyncio, sys
from bot.channels.leader import leader_for
from storage.db import Database
leader = leader_for(Database(sys.argv[1]))
print("leading" if asyncio.run(leader.poll()) else "refused", flush=True)
sys.stdin.readline()
"""


@pytest.mark.backend("sqlite")
async def test_another_os_process_holding_the_sqlite_lock_makes_this_one_refuse(
    db: Database,
) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        db.url,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        assert (await holder.stdout.readline()).strip() == b"leading"
        mine = leader_for(db)
        assert not await mine.poll()
        assert f"held by pid {holder.pid}" in mine.lock.describe()
    finally:
        holder.stdin.close()
        await asyncio.wait_for(holder.wait(), 30)
    restarted = leader_for(db)  # the holder exited: the kernel freed its flock
    try:
        assert await restarted.poll()
    finally:
        await restarted.close()


@pytest.mark.backend("sqlite")
async def test_on_sqlite_the_second_serve_scheduler_serves_without_the_led_jobs(
    service: ConsultationService, caplog: pytest.LogCaptureFixture
) -> None:
    make = lambda: Scheduler(  # noqa: E731
        services_for(service), _drop_notices, elect_seconds=0.05, sweep_seconds=0.05
    )
    first, second = make(), make()
    with caplog.at_level(logging.INFO):
        async with first.running():
            await _until(lambda: first.leading)
            async with second.running():
                await asyncio.sleep(0.3)
                assert not second.leading
                assert metrics.REGISTRY.get_sample_value("lawbot_scheduler_leader") == 1
    assert sum("scheduler not started" in r.getMessage() for r in caplog.records) == 1


# --- both databases ------------------------------------------------------------------------------


async def test_the_scheduler_disabled_stands_for_nothing_and_leaves_the_lock_free(
    service: ConsultationService, db: Database
) -> None:
    scheduler = Scheduler(services_for(service), _drop_notices, lead=False, elect_seconds=0.05)
    database = Database(db.url)
    other = leader_for(database)
    try:
        async with scheduler.running():
            await asyncio.sleep(0.2)
            assert not scheduler.leading
            assert await other.poll()  # a process with the scheduler enabled leads
    finally:
        await other.close()
        database.dispose()


async def test_gated_jobs_run_only_in_the_leading_process(db: Database) -> None:
    runs: list[str] = []

    def job(name: str) -> Callable[[object], asyncio.Future[None]]:
        async def run(_context: object) -> None:
            runs.append(name)

        return run  # type: ignore[return-value]

    database = Database(db.url)
    a, b = leader_for(db, key=TEST_KEY), leader_for(database, key=TEST_KEY)
    try:
        for _ in range(3):
            await gated(a, job("a"))(None)
            await gated(b, job("b"))(None)
        assert runs == ["a", "a", "a"]
    finally:
        await a.close()
        await b.close()
        database.dispose()


class _HangingLock:
    """A lock whose check never answers (a connection lost without a reset)."""

    refuse_when_taken = False

    def __init__(self) -> None:
        self.gone = threading.Event()

    def describe(self) -> str:
        return "hanging lock"

    def try_acquire(self) -> bool:
        return True

    def check(self) -> bool:
        self.gone.wait(5)
        return True

    def release(self) -> None:
        self.gone.set()


async def test_a_leader_whose_check_hangs_stops_leading_within_the_timeout() -> None:
    lock = _HangingLock()
    leader = Leader(lock, check_timeout=0.2)
    assert await leader.poll()
    started = time.monotonic()
    assert not await leader.poll()
    assert time.monotonic() - started < 1.0
    await leader.close()


async def _drop_notices(_notices: tuple[Notice, ...]) -> None:
    return None
