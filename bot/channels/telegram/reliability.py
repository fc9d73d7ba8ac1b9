"""Nothing acknowledged is lost: a write-ahead journal of updates and database retries.

Telegram's getUpdates offset semantics
--------------------------------------
Every update has an increasing `update_id`. A getUpdates call with `offset=N` *confirms* every
update with an id below N: Telegram forgets them and never sends them again. Updates at or above
N are returned again on every call until a later offset confirms them. PTB's Updater fetches a
batch, puts it on the Application's update queue and immediately polls again with
`offset = last id + 1`, so a batch is confirmed while it may still be waiting in memory or be
half-way through a handler. Consequences:

* after a crash, the updates of the last *unconfirmed* batch are delivered again (redelivery);
* updates that were confirmed but not yet handled are gone from Telegram — only the bot can
  still have them.

How the bot stays exactly-once for the villager
-----------------------------------------------
1. Journal (`install`): the update queue is wrapped so that every update is appended to
   `<journal>/journal.log` *before* it enters the queue, i.e. before PTB can confirm it.
   When its processing ends (whatever the handlers did) a `-<id>` line is appended. At start-up
   (and every `REPLAY_SECONDS`) the files left behind — updates confirmed to Telegram but not
   handled because the process died, or held because the database was down — are processed
   again. The append is flushed but not fsynced: it survives a killed process (the page cache belongs to the
   kernel), not a power cut.
2. Update ids recorded: a message is stored as a consultation with `update_key = tg:<update_id>`
   (unique). Handling the same update twice (Telegram redelivery, journal replay) finds the row.
3. `replied_at`: stamped after the replies were sent. A recorded update with `replied_at` set is
   ignored; one without it gets its reply re-rendered from the stored decision, FAQ id and
   candidates (and an advisor card whose delivery was never recorded is sent again).
   The remaining window — killed after sendMessage returned and before `replied_at` was
   committed — can repeat one reply; Telegram offers no idempotent send to close it.

Database faults
---------------
`call_with_retry` runs a service call in a worker thread and retries it with exponential backoff
while the error is transient (SQLite locked past its busy timeout, PostgreSQL down or restarting:
OperationalError / InterfaceError / invalidated connections). The service's unit of work is one
transaction, so a failed attempt left nothing behind. After `RetryPolicy.busy_after` seconds the
villager gets one "系统繁忙" note; after `RetryPolicy.hold_seconds` the update is *held*: its
journal entry stays and the replay job processes it once the database answers. Nothing that was
confirmed to Telegram is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, BaseUpdateProcessor, ContextTypes

from bot import texts
from bot.channels.telegram.context import services_of

__all__ = [
    "JournalQueue",
    "RetryPolicy",
    "call_with_retry",
    "install",
    "is_transient",
    "journal_dir_for",
    "replay",
    "retry_db",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
JOURNAL_KEY = "reliability.journal"
REPLAY_SECONDS = 10.0


@dataclass
class RetryPolicy:
    """How long to keep retrying a database call before answering busy, and before holding."""

    first_delay: float = 0.05
    max_delay: float = 2.0
    busy_after: float = 3.0
    hold_seconds: float = 20.0


POLICY = RetryPolicy()


def is_transient(exc: BaseException) -> bool:
    """Tell whether a database error may go away by itself (locked, unreachable, restarting)."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


async def retry_db(
    call: Callable[[], T],
    *,
    policy: RetryPolicy | None = None,
    on_slow: Callable[[], Any] | None = None,
) -> T:
    """Run `call` in a worker thread, retrying transient database errors with backoff.

    `on_slow` (a coroutine function) runs once when the call has failed for `busy_after`
    seconds; the last transient error is re-raised after `hold_seconds`.
    """
    policy = policy or POLICY
    started = time.monotonic()
    delay = policy.first_delay
    warned = False
    attempt = 0
    while True:
        attempt += 1
        try:
            return await asyncio.to_thread(call)
        except Exception as exc:
            if not is_transient(exc):
                raise
            elapsed = time.monotonic() - started
            if attempt == 1:
                logger.warning("database unavailable (%s); retrying", type(exc).__name__)
            if elapsed >= policy.hold_seconds:
                raise
            if not warned and elapsed >= policy.busy_after and on_slow is not None:
                warned = True
                await on_slow()
        await asyncio.sleep(delay)
        delay = min(delay * 2, policy.max_delay)


async def call_with_retry(
    context: ContextTypes.DEFAULT_TYPE,
    update: Update,
    call: Callable[[], T],
    *,
    chat_id: int,
) -> T | None:
    """Run a service call for an update; None when the database stayed down (update held)."""
    busy_sent = False

    async def busy() -> None:
        nonlocal busy_sent
        busy_sent = True
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(chat_id=chat_id, text=texts.BUSY)

    try:
        return await retry_db(call, on_slow=busy)
    except Exception as exc:
        if not is_transient(exc):
            raise
    journal = context.application.bot_data.get(JOURNAL_KEY)
    if isinstance(journal, Journal):
        journal.hold(update.update_id)
    logger.error(
        "database unavailable: update %s held for replay (journal: %s)",
        update.update_id,
        "yes" if isinstance(journal, Journal) else "no",
    )
    if not busy_sent:
        await busy()
    return None


# --- the journal -------------------------------------------------------------------------------


class Journal:
    """An append-only log of updates between their arrival and the end of their handling.

    `+<update json>` when an update arrives, `-<update id>` when it was handled; a line is
    flushed to the kernel at once (it survives a killed process). At start the log is read, the
    leftovers are kept for replay and the log is rewritten with them only; it is truncated
    again whenever nothing is pending and it has grown past `COMPACT_BYTES`.
    """

    LOG = "journal.log"
    COMPACT_BYTES = 1 << 20

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.in_flight: set[int] = set()
        self.held: set[int] = set()
        self.entries: dict[int, str] = {}  # arrived, not handled yet: update id -> JSON
        self.lock = asyncio.Lock()
        self._load()
        self._compact()

    @property
    def log_path(self) -> Path:
        return self.directory / self.LOG

    def _load(self) -> None:
        if self.log_path.exists():
            with self.log_path.open(encoding="utf-8", errors="replace") as log:
                for line in log:
                    if not line.endswith("\n"):
                        break  # a line cut short by the kill: its update never entered the queue
                    if line.startswith("+"):
                        try:
                            update_id = int(json.loads(line[1:])["update_id"])
                        except (ValueError, KeyError, TypeError):
                            logger.warning("unreadable journal line skipped")
                            continue
                        self.entries[update_id] = line[1:-1]
                    elif line.startswith("-") and line[1:-1].isdigit():
                        self.entries.pop(int(line[1:-1]), None)
        for path in self.directory.glob("*.json"):  # single updates dropped in by hand
            if path.stem.isdigit():
                self.entries[int(path.stem)] = path.read_text(encoding="utf-8").strip()
                path.unlink()

    def _compact(self) -> None:
        tmp = self.log_path.with_suffix(".tmp")
        tmp.write_text("".join(f"+{data}\n" for data in self.entries.values()), encoding="utf-8")
        os.replace(tmp, self.log_path)
        self._log = self.log_path.open("a", encoding="utf-8")

    def _append(self, line: str) -> None:
        self._log.write(line)
        self._log.flush()

    def write(self, update: Update) -> bool:
        """Record an arriving update; False when it is already being handled (a redelivery)."""
        update_id = update.update_id
        if update_id in self.in_flight:
            return False
        self.in_flight.add(update_id)
        if update_id not in self.entries:
            data = update.to_json()
            self.entries[update_id] = data
            self._append(f"+{data}\n")
        return True

    def hold(self, update_id: int) -> None:
        self.held.add(update_id)

    def done(self, update_id: int) -> None:
        """The update was handled: forget it (unless held for a database that was down)."""
        self.in_flight.discard(update_id)
        if update_id in self.held:
            self.held.discard(update_id)
            return
        if self.entries.pop(update_id, None) is not None:
            self._append(f"-{update_id}\n")
        if not self.entries and self._log.tell() > self.COMPACT_BYTES:
            self._log.close()
            self._compact()

    def pending(self) -> list[tuple[int, dict[str, Any]]]:
        """Updates left in the journal, oldest first, not being handled right now."""
        out: list[tuple[int, dict[str, Any]]] = []
        for update_id in sorted(self.entries):
            if update_id in self.in_flight:
                continue
            try:
                out.append((update_id, json.loads(self.entries[update_id])))
            except ValueError:
                logger.warning("unreadable journal entry %s dropped", update_id)
                self.entries.pop(update_id, None)
        return out

    def close(self) -> None:
        """Close the log file."""
        self._log.close()


class JournalQueue(asyncio.Queue[object]):
    """The Application's update queue, writing each update to the journal before queueing it."""

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    def put_nowait(self, item: object) -> None:  # `put` ends in put_nowait too (unbounded)
        if isinstance(item, Update) and not self.journal.write(item):
            return  # the same update is already queued or being handled
        super().put_nowait(item)


class _JournalingProcessor(BaseUpdateProcessor):
    """The Application's update processor, removing each update's journal file at the end."""

    def __init__(self, inner: BaseUpdateProcessor, journal: Journal) -> None:
        super().__init__(inner.max_concurrent_updates)
        self.inner = inner
        self.journal = journal

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        try:
            await self.inner.do_process_update(update, coroutine)
        finally:
            if isinstance(update, Update):
                self.journal.done(update.update_id)

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()


def journal_dir_for(database_url: str) -> Path:
    """The default journal directory: beside a SQLite file, else ./data/journal-<db name>."""
    override = os.environ.get("LAWBOT_JOURNAL_DIR")
    if override:
        return Path(override)
    url = make_url(database_url)
    name = url.database or "memory"
    if url.get_backend_name() == "sqlite" and name not in ("", ":memory:", "memory"):
        return Path(name).with_name(Path(name).name + ".journal")
    return Path("data") / f"journal-{Path(name).name}"


def install(
    application: Application,  # type: ignore[type-arg]
    directory: Path | None = None,
    *,
    replay_every: float = REPLAY_SECONDS,
) -> Journal:
    """Journal every update of `application` and replay the leftovers (call before start)."""
    if directory is None:
        service = services_of(application).consultation
        directory = journal_dir_for(str(service.db.url))
    journal = Journal(directory)
    queue = JournalQueue(journal)
    application.update_queue = queue
    if application.updater is not None:
        application.updater.update_queue = queue
    application.bot_data[JOURNAL_KEY] = journal
    # Forget an update when its processing ends, whatever the handlers did (a handler that
    # stops the chain with ApplicationHandlerStop included): wrap the update processor.
    application._update_processor = _JournalingProcessor(application.update_processor, journal)

    async def replay_job(context: ContextTypes.DEFAULT_TYPE) -> None:
        # returns at once: a long replay (many leftovers after a crash) runs as its own task
        if not journal.lock.locked() and (journal.held or journal.pending()):
            context.application.create_task(replay(context.application), name="journal-replay")

    if application.job_queue is not None:
        application.job_queue.run_repeating(
            replay_job, interval=replay_every, first=0.5, name="journal-replay"
        )
    return journal


async def replay(application: Application) -> int:  # type: ignore[type-arg]
    """Process the updates left in the journal once the database answers; return how many."""
    journal = application.bot_data.get(JOURNAL_KEY)
    if not isinstance(journal, Journal) or journal.lock.locked():
        return 0
    async with journal.lock:
        pending = journal.pending()
        if not pending:
            return 0
        service = services_of(application).consultation
        try:
            await asyncio.to_thread(_ping, service.db)
        except Exception as exc:
            if is_transient(exc):
                return 0
            raise
        logger.info("replaying %d journaled updates", len(pending))
        count = 0
        for update_id, data in pending:
            if update_id in journal.in_flight:
                continue
            journal.in_flight.add(update_id)
            update = Update.de_json(data, application.bot)
            try:
                await application.process_update(update)
            finally:
                journal.done(update_id)
            count += 1
        return count


def _ping(db: Any) -> None:
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
