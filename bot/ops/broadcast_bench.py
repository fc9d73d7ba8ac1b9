"""The broadcast benchmark: a real push to emulated villagers through the Telegram emulator."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.ops.telegram_emulator import Emulator, Fault
from bot.services.campaigns import CampaignService, Pacing

__all__ = ["BenchResult", "bench_broadcast"]


@dataclass(frozen=True)
class BenchResult:
    """One broadcast benchmark against the emulator."""

    subscribers: int
    configured_rate: float
    faults: bool
    seconds: float
    send_rate: float  # successful sendMessage calls per second (first to last)
    counts: dict[str, int]
    duplicates: int
    lost: int  # deliveries not in a final state, or subscribers without a delivery row
    mismatched: int  # rows `sent` without a successful call, or calls without a `sent` row


Work = Callable[[Callable[[str], None]], Any]
Show = Callable[[str, int, Work], Coroutine[Any, Any, dict[str, int] | None]]


async def _quietly(_label: str, _total: int, work: Work) -> dict[str, int] | None:
    result: dict[str, int] | None = await work(lambda _state: None)
    return result


def bench_broadcast(
    cfg: Config,
    *,
    subscribers: int = 2000,
    rate: float | None = None,
    faults: bool = False,
    show: Show = _quietly,
) -> BenchResult:
    """Broadcast to `subscribers` emulated villagers and measure; `show` draws the progress."""
    from sqlalchemy import insert
    from telegram import Bot
    from telegram.request import HTTPXRequest

    from bot.channels.telegram.campaign_handlers import telegram_sender
    from knowledge.models import KnowledgeBase
    from storage.campaign_models import CampaignDelivery
    from storage.db import Database
    from storage.models import Villager

    rate = rate or cfg.campaigns.rate_per_second
    emulator = Emulator(seed=5)
    base_url = emulator.start()
    with tempfile.TemporaryDirectory(prefix="lawbot-bench-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        db.upgrade()
        now = datetime.now(UTC)
        first = 8_000_000
        with db.session() as session:
            session.execute(
                insert(Villager),
                [
                    {
                        "channel": "telegram",
                        "channel_user_id": str(first + i),
                        "chat_id": str(first + i),
                        "label": f"村民{i}",
                        "village_code": "waihong",
                        "role": "villager",
                        "subscribed": True,
                        "elder_mode": False,
                        "active": True,
                        "created_at": now,
                        "last_seen_at": now,
                    }
                    for i in range(subscribers)
                ],
            )
        if faults:
            emulator.fail(
                "sendMessage", Fault(429, "Too Many Requests: retry after 1", 1, times=3)
            )
            emulator.fail(
                "sendMessage",
                Fault(403, "Forbidden: bot was blocked by the user", times=20, probability=0.01),
            )
            emulator.fail(
                "sendMessage", Fault(500, "Internal Server Error", times=40, probability=0.02)
            )
        service = CampaignService(
            config=cfg,
            kb=KnowledgeBase(topics=()),
            db=db,
            schedule=(),
            pacing=Pacing(rate_per_second=rate),
        )
        run_id = service.start_broadcast("基准测试 benchmark", None, actor="bench")
        bot = Bot(
            "123456:BENCH",
            base_url=base_url,
            request=HTTPXRequest(connection_pool_size=64, read_timeout=10),
        )

        async def go(advance: Callable[[str], None]) -> dict[str, int]:
            async with bot:
                return await service.deliver(run_id, telegram_sender(bot), on_progress=advance)

        started = time.monotonic()
        shown: dict[str, int] | None = asyncio.run(show("bench", subscribers, go))
        counts = shown or {}
        seconds = time.monotonic() - started
        from sqlmodel import select

        with db.session() as session:
            rows = session.exec(select(CampaignDelivery)).all()
        db.dispose()
    emulator.stop()
    calls = [c for c in emulator.calls if c.method == "sendMessage" and c.ok]
    emulator_ok = Counter(str(c.params.get("chat_id")) for c in calls)
    sent_rows = {r.chat_id for r in rows if r.state == "sent"}
    final = {"sent", "failed", "blocked", "deactivated", "skipped"}
    span = (calls[-1].at - calls[0].at) if len(calls) > 1 else 0.0
    return BenchResult(
        subscribers=subscribers,
        configured_rate=rate,
        faults=faults,
        seconds=seconds,
        send_rate=(len(calls) - 1) / span if span else 0.0,
        counts=counts,
        duplicates=sum(n - 1 for n in emulator_ok.values() if n > 1),
        lost=subscribers - sum(1 for r in rows if r.state in final),
        mismatched=len(sent_rows ^ set(emulator_ok)),
    )
