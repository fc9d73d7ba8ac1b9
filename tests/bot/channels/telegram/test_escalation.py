"""Advisor escalation end to end: villager, advisor and failover through the real Application."""

from __future__ import annotations

from sqlmodel import select

from bot import texts
from bot.config import Config
from bot.ops.telegram_emulator import Fault
from storage.models import Escalation
from tests.bot.channels.telegram.conftest import Harness

VILLAGER = 7001


def _ids(config: Config, code: str) -> tuple[int, int, int]:
    village = config.village(code)
    assert village is not None
    assert village.advisor_id is not None
    assert village.backup_advisor_id is not None
    return village.advisor_id, village.backup_advisor_id, config.staff.staff_ids[0]


async def _escalate(bot: Harness, code: str) -> None:
    emulator = bot.emulator
    emulator.send_text(VILLAGER, f"/start {code}")
    await emulator.wait_for(lambda: len(emulator.texts_to(VILLAGER)) >= 2)
    emulator.send_text(VILLAGER, "请问怎么办")
    await emulator.wait_for(lambda: len(emulator.texts_to(VILLAGER)) >= 3)
    with bot.service.db.session() as session:
        from storage.models import Consultation

        cid = session.exec(select(Consultation)).all()[-1].id
    emulator.press(VILLAGER, f"adv:{cid}")
    await emulator.wait_for(lambda: len(emulator.texts_to(VILLAGER)) >= 4)


async def test_the_card_reaches_the_advisor_and_a_reply_to_it_reaches_the_villager(
    bot: Harness, config: Config
) -> None:
    advisor, _, _ = _ids(config, "chengfan")
    emulator = bot.emulator
    await _escalate(bot, "chengfan")
    assert "程畈村法律顾问" in emulator.texts_to(VILLAGER)[-1]
    await emulator.wait_for(lambda: len(emulator.messages_to(advisor)) >= 1)
    card = emulator.messages_to(advisor)[0]
    assert "程畈村" in card["text"]
    emulator.reply_to(advisor, card, "请把欠条拍照发给我看看。")
    await emulator.wait_for(lambda: any("欠条拍照" in t for t in emulator.texts_to(VILLAGER)))
    answer = emulator.texts_to(VILLAGER)[-1]
    assert answer.startswith("【程畈村法律顾问")
    assert emulator.texts_to(advisor)[-1] == texts.REPLY_SENT.format(id=1)
    emulator.send_text(VILLAGER, "好的我晚上拍")
    await emulator.wait_for(lambda: any("晚上拍" in t for t in emulator.texts_to(advisor)))


async def test_an_advisor_who_blocked_the_bot_fails_over_to_the_backup_and_staff_are_told(
    bot: Harness, config: Config
) -> None:
    advisor, backup, staff = _ids(config, "mashan")
    emulator = bot.emulator
    emulator.fail(
        "sendMessage",
        Fault(403, "Forbidden: bot was blocked by the user", times=10, chat_id=str(advisor)),
    )
    await _escalate(bot, "mashan")
    await emulator.wait_for(lambda: len(emulator.messages_to(backup)) >= 1)
    await emulator.wait_for(lambda: len(emulator.messages_to(staff)) >= 1)
    assert "马山村" in emulator.texts_to(backup)[0]
    assert "屏蔽" in emulator.texts_to(staff)[0]
    with bot.service.db.session() as session:
        escalation = session.exec(select(Escalation)).one()
    assert escalation.advisor_id == str(backup)
    assert escalation.level == 1


async def test_a_villager_cannot_use_advisor_commands(bot: Harness) -> None:
    emulator = bot.emulator
    for command in ("/queue", "/mine", "/done 1", "/stats_me", "/reply 1 hi"):
        before = len(emulator.texts_to(VILLAGER))
        emulator.send_text(VILLAGER, command)
        await emulator.wait_for(lambda before=before: len(emulator.texts_to(VILLAGER)) > before)
        assert emulator.texts_to(VILLAGER)[-1] == texts.ADVISOR_ONLY


async def test_the_sla_job_reminds_the_advisor_from_the_database(
    bot: Harness, config: Config
) -> None:
    from datetime import timedelta

    from telegram.ext import Application

    from bot.channels.telegram import jobs

    advisor, _, _ = _ids(config, "xinwu")
    emulator = bot.emulator
    await _escalate(bot, "xinwu")
    await emulator.wait_for(lambda: len(emulator.messages_to(advisor)) >= 1)
    with bot.service.db.session() as session:
        escalation = session.exec(select(Escalation)).one()
        created = escalation.created_at
    from tests.conftest import MORNING

    later = MORNING + timedelta(hours=13)
    with bot.service.db.session() as session:
        escalation = session.exec(select(Escalation)).one()
        escalation.created_at = MORNING
        session.add(escalation)
    bot.service.clock = lambda: later
    application = bot.application
    assert isinstance(application, Application)
    assert application.job_queue is not None
    assert application.job_queue.get_jobs_by_name("sla-sweep")
    application.job_queue.run_once(jobs.sla_sweep, 0)
    await emulator.wait_for(lambda: any("提醒" in t for t in emulator.texts_to(advisor)))
    application.job_queue.run_once(jobs.sla_sweep, 0)
    application.job_queue.run_once(jobs.sla_sweep, 0.05)
    import asyncio

    await asyncio.sleep(0.5)
    assert sum("提醒" in t for t in emulator.texts_to(advisor)) == 1
    assert created is not None
