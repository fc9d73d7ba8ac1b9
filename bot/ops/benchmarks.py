"""Benchmarks of the storage path and of the whole Telegram pipeline (commands, never tests).

`storage_cost` times what the service does to log one consultation (find or create the villager,
insert the row, commit) in its own session, as in production. `pipeline_throughput` pushes
updates through the real PTB Application polling the Bot API emulator of the test suite
(`bot/ops/telegram_emulator.py`, so it runs from a source checkout) with logging to the configured database.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

from bot.config import Config
from bot.services.consultation import ConsultationService
from storage import repositories as repo
from storage.clock import utcnow
from storage.db import Database
from storage.models import Consultation

__all__ = ["Timing", "nearest_percentile", "pipeline_throughput", "storage_cost"]


@dataclass(frozen=True)
class Timing:
    """Latency distribution in milliseconds and throughput."""

    count: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        """Return operations per second."""
        return self.count / self.seconds if self.seconds else 0.0


def nearest_percentile(values: list[float], q: float) -> float:
    """Return the nearest-rank q-th percentile of the values (0.0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def storage_cost(db: Database, *, count: int = 1000, villagers: int = 100) -> Timing:
    """Time `count` logged consultations, one session and commit each."""
    samples: list[float] = []
    started = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        with db.session() as session:
            villager = repo.get_or_create_villager(
                now=utcnow(), session=session, channel="bench", channel_user_id=str(i % villagers)
            )
            assert villager.id is not None
            repo.add_consultation(
                session=session,
                consultation=Consultation(
                    villager_id=villager.id,
                    channel="bench",
                    raw_text=f"基准测试问题{i}",
                    decision="answer",
                    faq_id="bench",
                ),
            )
        samples.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    return Timing(count, elapsed, statistics.median(samples), nearest_percentile(samples, 0.99))


def pipeline_throughput(
    config: Config, service: ConsultationService, *, updates: int = 2000, users: int = 200
) -> Timing:
    """Push `updates` questions from `users` villagers through the Application; time the replies."""
    return asyncio.run(_pipeline(config, service, updates=updates, users=users))


async def _pipeline(
    config: Config, service: ConsultationService, *, updates: int, users: int
) -> Timing:
    try:
        from bot.ops.telegram_emulator import Emulator
    except ImportError as exc:  # pragma: no cover - only outside a source checkout
        raise RuntimeError(
            "the pipeline benchmark needs bot/ops/telegram_emulator.py (run it from a source checkout)"
        ) from exc
    from bot.channels.telegram import build_application
    from bot.wiring import services_for

    emulator = Emulator(seed=1)
    base = emulator.start()
    telegram = config.telegram.model_copy(update={"base_url": base, "base_file_url": base})
    cfg = config.model_copy(
        update={
            "telegram": telegram,
            "conversation": config.conversation.model_copy(
                update={"max_messages_per_minute": 600}
            ),
        }
    )
    service.config = cfg
    application: Any = build_application(services_for(service), "1:BENCH", rate_limit=False)
    questions = [e.question for e in service.kb.entries]
    sent_at: dict[int, float] = {}
    try:
        async with application:
            await application.start()
            await application.updater.start_polling(poll_interval=0.0, timeout=1)
            started = time.perf_counter()
            for i in range(updates):
                user = 10_000 + i % users
                sent_at[i] = time.monotonic()  # the emulator stamps calls with monotonic()
                emulator.send_text(user, questions[i % len(questions)])
                if i % 50 == 49:
                    await asyncio.sleep(0)
            await emulator.wait_for(
                lambda: len(emulator.sent("sendMessage")) >= updates, within=600
            )
            elapsed = time.perf_counter() - started
            await application.updater.stop()
            await application.stop()
    finally:
        emulator.stop()
    calls = [c for c in emulator.calls if c.method == "sendMessage" and c.ok]
    # replies arrive in order per chat; pair each with the question of the same index per user
    per_user: dict[int, list[float]] = {}
    for call in calls:
        per_user.setdefault(int(call.params["chat_id"]), []).append(call.at)
    latencies: list[float] = []
    for i in range(updates):
        user = 10_000 + i % users
        replies = per_user.get(user, [])
        k = i // users
        if k < len(replies):
            latencies.append((replies[k] - sent_at[i]) * 1000)
    return Timing(
        updates, elapsed, statistics.median(latencies), nearest_percentile(latencies, 0.99)
    )
