"""Fixtures of the campaign tests: the example schedule, villagers in bulk, a campaign service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from telegram.ext import Application

from bot.channels.telegram import build_application
from bot.config import Config
from bot.ops.telegram_emulator import Emulator
from bot.services.campaign_config import EXAMPLE_SCHEDULE_TOML, CampaignDef, parse_schedule
from bot.services.campaigns import CampaignService, Pacing
from bot.services.consultation import ConsultationService
from bot.wiring import services_for
from knowledge.models import KnowledgeBase
from storage.clock import ManualClock
from storage.db import Database
from storage.models import Villager

FAST = Pacing(rate_per_second=500, per_chat_interval=0.05, backoff=0.02, workers=32)
FIRST_CHAT = 5_000_000
TOKEN = "123456:TEST-TOKEN"


@pytest.fixture(name="schedule", scope="session")
def schedule_fixture() -> tuple[CampaignDef, ...]:
    """The reference town's schedule (the block pasted into config.example.toml)."""
    return parse_schedule(EXAMPLE_SCHEDULE_TOML)


@pytest.fixture(name="clock")
def clock_fixture() -> ManualClock:
    """Midnight UTC (08:00 in the town) a week before 宪法宣传周."""
    return ManualClock(datetime(2026, 11, 20, 0, 0, tzinfo=UTC))


@pytest.fixture(name="campaigns")
def campaigns_fixture(
    config: Config,
    kb: KnowledgeBase,
    db: Database,
    schedule: tuple[CampaignDef, ...],
    clock: ManualClock,
) -> CampaignService:
    """A campaign service on a fresh database with the example schedule and fast pacing."""
    return CampaignService(
        config=config, kb=kb, db=db, clock=clock, schedule=schedule, pacing=FAST
    )


def add_villagers(
    db: Database,
    count: int,
    *,
    villages: tuple[str, ...] = ("waihong",),
    first: int = FIRST_CHAT,
    channel: str = "telegram",
    **fields: object,
) -> list[int]:
    """Insert villagers in bulk (chat id = user id = first + i); return their chat ids."""
    chats = [first + i for i in range(count)]
    rows = [
        {
            "channel": channel,
            "channel_user_id": str(chat),
            "chat_id": str(chat),
            "label": f"村民{i}",
            "village_code": villages[i % len(villages)],
            "role": "villager",
            "subscribed": True,
            "elder_mode": False,
            "active": True,
            "created_at": datetime.now(UTC),
            "last_seen_at": datetime.now(UTC),
        }
        | fields
        for i, chat in enumerate(chats)
    ]
    with db.session() as session:
        session.execute(insert(Villager), rows)
    return chats


@pytest.fixture(name="emulator")
def emulator_fixture() -> Iterator[Emulator]:
    emulator = Emulator(seed=11)
    emulator.start()
    yield emulator
    emulator.stop()


@dataclass
class CampaignBot:
    """The real Application (villager + campaign handlers) polling the emulator."""

    emulator: Emulator
    campaigns: CampaignService
    application: Application  # type: ignore[type-arg]


@pytest.fixture(name="campaign_bot")
async def campaign_bot_fixture(
    emulator: Emulator, config: Config, service: ConsultationService, campaigns: CampaignService
) -> AsyncIterator[CampaignBot]:
    telegram = config.telegram.model_copy(
        update={"base_url": emulator.base_url, "base_file_url": emulator.base_url}
    )
    cfg = config.model_copy(update={"telegram": telegram})
    service.config = cfg
    campaigns.config = cfg
    application = build_application(services_for(service, campaigns=campaigns), TOKEN)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        yield CampaignBot(emulator, campaigns, application)
        await application.updater.stop()
        await application.stop()
