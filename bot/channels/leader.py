"""Which process of a deployment runs the scheduler jobs: one leader, elected through the database.

PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) held on a dedicated connection
kept open. The server releases it when that connection ends (the process died, was killed, lost
the network), and a standby that retries every few seconds takes over. The leader checks its
connection at every poll and stops leading as soon as the check fails or hangs.

SQLite: an exclusive `flock` on a file beside the database. SQLite is the one-process embedded
default: a second process on the same file refuses to start the scheduler (one log line) and
goes on serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from storage.db import Database

__all__ = [
    "LEADER_LOCK_KEY",
    "AdvisoryLock",
    "FileLock",
    "Leader",
    "LeaderLock",
    "gated",
    "leader_for",
    "lock_file_for",
]

logger = logging.getLogger(__name__)

LEADER_LOCK_KEY = int.from_bytes(b"lawbot-s", "big")  # advisory locks are per database
CHECK_TIMEOUT = 5.0  # seconds a poll may take before this process stops leading
# libpq / server keepalives on the lock connection: a dead peer is noticed in ~20 s, not hours.
CLIENT_KEEPALIVE = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
    "application_name": "lawbot-scheduler-lock",
}
SERVER_KEEPALIVE = (
    "SET tcp_keepalives_idle = 10",
    "SET tcp_keepalives_interval = 3",
    "SET tcp_keepalives_count = 3",
)

T = TypeVar("T")


class LeaderLock(Protocol):
    """A lock that at most one process of the deployment holds (sync: call it in a thread)."""

    refuse_when_taken: bool  # True: a process that finds it taken never tries again

    def describe(self) -> str:
        """Name the lock for log lines."""
        ...

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this process holds it now."""
        ...

    def check(self) -> bool:
        """True while the lock is still held by this process (raises when that is unknown)."""
        ...

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        ...


class AdvisoryLock:
    """A PostgreSQL session-level advisory lock on a dedicated connection outside the pool."""

    refuse_when_taken = False

    def __init__(self, url: str, key: int = LEADER_LOCK_KEY) -> None:
        self.key = key
        self._engine: Engine = create_engine(
            url, poolclass=NullPool, connect_args=CLIENT_KEEPALIVE
        )
        self._connection: Connection | None = None
        self._lock = threading.Lock()
        self.backend_pid: int | None = None

    def describe(self) -> str:
        """The lock and the database it lives in (no password)."""
        return (
            f"advisory lock {self.key} on {self._engine.url.render_as_string(hide_password=True)}"
        )

    def try_acquire(self) -> bool:
        """Connect if needed and try the lock once (never waits for it)."""
        with self._lock:
            if self._connection is None:
                connection = self._engine.connect()
                for statement in SERVER_KEEPALIVE:
                    connection.exec_driver_sql(statement)
                connection.commit()
                self._connection = connection
            try:
                got = self._connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
                ).scalar_one()
                if got:
                    self.backend_pid = self._connection.exec_driver_sql(
                        "SELECT pg_backend_pid()"
                    ).scalar_one()
                self._connection.commit()  # a session lock outlives the transaction
            except Exception:
                self._drop()
                raise
            return bool(got)

    def check(self) -> bool:
        """Ask the server whether this session still holds the lock."""
        with self._lock:
            if self._connection is None:
                return False
            try:
                held = self._connection.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND pid = pg_backend_pid() AND granted AND objsubid = 1 "
                        "AND ((classid::bigint << 32) | objid::bigint) = :key"
                    ),
                    {"key": self.key},
                ).scalar_one()
                self._connection.commit()
            except Exception:
                self._drop()
                raise
            return bool(held)

    def release(self) -> None:
        """Close the connection: the server frees the lock with the session."""
        with self._lock:
            self._drop()
        self._engine.dispose()

    def abandon(self) -> None:
        """Forget a connection that hangs (closing it could hang too): close it in a thread."""
        connection, self._connection = self._connection, None
        if connection is not None:
            threading.Thread(target=_quietly_close, args=(connection,), daemon=True).start()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        self.backend_pid = None
        if connection is not None:
            _quietly_close(connection)


def _quietly_close(connection: Connection) -> None:
    with contextlib.suppress(Exception):
        connection.close()


class FileLock:
    """An exclusive `flock` on a file beside the SQLite database (freed when the process ends)."""

    refuse_when_taken = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def describe(self) -> str:
        """The lock file, and the process id written in it by the holder."""
        try:
            holder = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            holder = ""
        return f"lock file {self.path}" + (f" (held by pid {holder})" if holder else "")

    def try_acquire(self) -> bool:
        """Take the lock without waiting; write this process's id into the file."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def check(self) -> bool:
        """A flock is held until this process closes the file."""
        return self._fd is not None

    def release(self) -> None:
        """Unlock and close the file (left in place: unlinking it would race a new holder)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class _Always:
    """The lock of an in-memory SQLite database: only this process can see it."""

    refuse_when_taken = True

    def describe(self) -> str:
        return "in-memory database"

    def try_acquire(self) -> bool:
        return True

    def check(self) -> bool:
        return True

    def release(self) -> None:
        return None


def lock_file_for(database_url: str) -> Path | None:
    """The scheduler lock file beside a SQLite database file (None for in-memory)."""
    name = make_url(database_url).database or ""
    if name in ("", ":memory:"):
        return None
    path = Path(name)
    return path.with_name(path.name + ".scheduler.lock")


def leader_for(db: Database, *, key: int = LEADER_LOCK_KEY) -> Leader:
    """The leader election that fits the database: advisory lock or lock file."""
    if db.backend == "postgresql":
        return Leader(AdvisoryLock(db.url, key))
    path = lock_file_for(db.url)
    return Leader(FileLock(path) if path is not None else _Always())


class Leader:
    """Poll a `LeaderLock`: take it when free, confirm it while held, log each change once."""

    def __init__(self, lock: LeaderLock, *, check_timeout: float = CHECK_TIMEOUT) -> None:
        self.lock = lock
        self.check_timeout = check_timeout
        self.leading = False
        self.refused = False
        self._said: str | None = None
        self._poll_lock = asyncio.Lock()

    async def poll(self) -> bool:
        """Take or confirm the lead; return whether this process leads now."""
        async with self._poll_lock:
            if self.refused:
                return False
            try:
                if self.leading:
                    held = await self._in_thread(self.lock.check)
                    if not held:
                        self._stop("lost the scheduler lead; %s is no longer held")
                else:
                    self.leading = await self._in_thread(self.lock.try_acquire)
                    if self.leading:
                        self._say("leader", "scheduler leader: this process runs the led jobs; %s")
                    elif self.lock.refuse_when_taken:
                        self.refused = True
                        logger.warning(
                            "scheduler not started: another process already runs it, this process "
                            "serves requests only; %s",
                            self.lock.describe(),
                        )
                    else:
                        self._say("standby", "scheduler standby: another process leads; %s")
            except TimeoutError:
                if isinstance(self.lock, AdvisoryLock):
                    self.lock.abandon()
                self._stop(
                    "scheduler lock check hung for %ss: stopped leading", self.check_timeout
                )
            except Exception as exc:  # the database is away: nobody can be sure to lead
                self._stop(
                    "scheduler lock unavailable (%s): not leading; retrying",
                    (str(exc).splitlines() or [""])[0],
                )
            return self.leading

    async def close(self) -> None:
        """Give the lead up (at shutdown)."""
        async with self._poll_lock:
            self.leading = False
            await asyncio.to_thread(self.lock.release)

    async def _in_thread(self, call: Callable[[], bool]) -> bool:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the call returns, and the scheduler's shutdown then waits forever
        async with asyncio.timeout(self.check_timeout):
            return await asyncio.to_thread(call)

    def _say(self, state: str, message: str) -> None:
        if self._said != state:
            self._said = state
            logger.info(message, self.lock.describe())

    def _stop(self, message: str, arg: object = None) -> None:
        was = self.leading
        self.leading = False
        if was or self._said != "away":
            self._said = "away"
            logger.warning(message, self.lock.describe() if arg is None else arg)


def gated(
    leader: Leader, job: Callable[[T], Awaitable[None]]
) -> Callable[[T], Coroutine[Any, Any, None]]:
    """Wrap a periodic job so that it runs only while `leader` leads (each run polls first)."""

    async def run(context: T) -> None:
        if await leader.poll():
            await job(context)

    return run
