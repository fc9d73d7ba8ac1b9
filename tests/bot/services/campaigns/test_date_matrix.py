"""The campaign scenarios hold whatever today's date is: the wall clock is moved to four dates
around the publicity days while the service clock stays where the test puts it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from bot.channels.telegram.campaign_handlers import schedule_campaign_jobs
from bot.services.campaigns import CampaignService
from storage.clock import ManualClock
from storage.db import Database
from tests.bot.services.campaigns.conftest import CampaignBot, add_villagers

WALL_DATES = ("2026-11-20", "2026-12-02", "2027-04-14", "2027-12-31")
STAFF = 100000901


@pytest.fixture(name="wall", params=WALL_DATES, autouse=True)
def wall_fixture(request: pytest.FixtureRequest) -> Iterator[datetime]:
    """Move the wall clock (and so APScheduler) to a date at 10:00 in the town, ticking on."""
    moment = datetime.fromisoformat(f"{request.param}T02:00:00+00:00")
    with time_machine.travel(moment, tick=True):
        yield moment


async def test_no_push_fires_before_its_time_on_the_service_clock(
    campaign_bot: CampaignBot, db: Database, clock: ManualClock, wall: datetime
) -> None:
    chats = add_villagers(db, 3)
    application = campaign_bot.application
    assert application.job_queue is not None
    ids = await schedule_campaign_jobs(application, campaign_bot.campaigns)
    assert ids, "the example schedule has pushes after the service clock"
    await asyncio.sleep(0.3)
    assert all(campaign_bot.emulator.texts_to(c) == [] for c in chats)
    plan = campaign_bot.campaigns.plan()
    for occ, when in plan.scheduled:
        (job,) = application.job_queue.get_jobs_by_name(occ.job_id)
        assert job.next_t is not None
        expected = datetime.now(UTC) + (when - clock.now)
        assert abs(job.next_t - expected) < timedelta(seconds=5), occ.job_id


async def test_staff_send_now_reaches_every_villager_once(
    campaign_bot: CampaignBot, db: Database
) -> None:
    chats = add_villagers(db, 4)
    emulator = campaign_bot.emulator
    emulator.send_text(STAFF, "/send_now constitution_day.week")
    await emulator.wait_for(lambda: len(emulator.texts_to(STAFF)) >= 2)
    assert all(len(emulator.texts_to(c)) == 1 for c in chats)


def test_the_plan_follows_the_service_clock_to_each_date(
    campaigns: CampaignService, clock: ManualClock, wall: datetime
) -> None:
    clock.set(wall)
    plan = campaigns.plan()
    assert plan.now == wall
    assert all(when >= wall for _, when in plan.scheduled)
    assert all(occ.at <= wall for occ in plan.missed)
