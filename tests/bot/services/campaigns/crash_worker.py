"""A broadcasting process for the crash test: `python -m tests.bot.services.campaigns.crash_worker DB URL`.

Behaves like the bot at start-up: derives the plan from config + delivery log (which resumes
interrupted runs), then sends constitution_day.day at 2026-12-04 08:30 through a PTB Bot talking
to the emulator at URL. Exits 0 when every delivery has reached a final state.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import Bot
from telegram.request import HTTPXRequest

from bot.channels.telegram.campaign_handlers import telegram_sender
from bot.config import load_config
from bot.services.campaign_config import EXAMPLE_SCHEDULE_TOML, parse_schedule
from bot.services.campaigns import CampaignService, Pacing
from knowledge.models import CampaignMessage, KnowledgeBase
from storage.db import Database

ROOT = Path(__file__).resolve().parents[4]
NOW = datetime(2026, 12, 4, 0, 30, tzinfo=UTC)
TEXT = "宪法规定，公民的人身自由不受侵犯。"
KB = KnowledgeBase(  # only the pushed message: loading the whole KB would slow every start
    topics=(),
    campaigns=(
        CampaignMessage(
            "constitution-day-rights-personal-freedom", "constitution_day", "", TEXT, ()
        ),
    ),
)


async def main(db_url: str, base_url: str, rate: float) -> None:
    db = Database(db_url)
    service = CampaignService(
        config=load_config(ROOT / "config.example.toml"),
        kb=KB,
        db=db,
        clock=lambda: NOW,
        schedule=parse_schedule(EXAMPLE_SCHEDULE_TOML),
        pacing=Pacing(rate_per_second=rate, per_chat_interval=0.05, backoff=0.02, workers=16),
    )
    bot = Bot(
        "123456:TEST-TOKEN", base_url=base_url, request=HTTPXRequest(connection_pool_size=32)
    )
    async with bot:
        send = telegram_sender(bot)
        plan = service.plan(NOW)
        for run_id in plan.resume:
            print(f"resuming run {run_id}", flush=True)
            await service.deliver(run_id, send)
        for occ, when in plan.scheduled:
            if when <= NOW and occ.push_key == "constitution_day.day":
                print(f"sending {occ.job_id}", flush=True)
                await service.execute(occ, send)
    db.dispose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 150))
