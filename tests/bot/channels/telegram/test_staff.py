"""Staff commands through the real PTB Application and the Bot API emulator."""

from __future__ import annotations

import io
import logging

import pytest
from openpyxl import load_workbook

from bot import texts as bot_texts
from bot.channels.telegram.staff import register_staff_handlers
from bot.services import report as rp
from tests.bot.channels.telegram.conftest import Harness

VILLAGER = 5001
STAFF = 100000901  # [staff] staff_ids of config.example.toml


async def _say(bot: Harness, user: int, text: str, count: int = 1) -> list[str]:
    before = len(bot.emulator.texts_to(user))
    bot.emulator.send_text(user, text)
    await bot.emulator.wait_for(lambda: len(bot.emulator.texts_to(user)) >= before + count)
    return bot.emulator.texts_to(user)[before:]


@pytest.fixture(name="staff_bot")
def staff_bot_fixture(bot: Harness) -> Harness:
    register_staff_handlers(bot.application)  # type: ignore[arg-type]
    return bot


async def test_stats_is_refused_to_villagers_and_logged(
    staff_bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.channels.telegram.staff"):
        for command in ("/stats", "/gaps", "/ledger"):
            texts = await _say(staff_bot, VILLAGER, command)
            assert texts == [bot_texts.STATS_STAFF_ONLY]
    assert sum("refused" in r.getMessage() for r in caplog.records) == 3
    assert not staff_bot.emulator.sent("sendDocument")


async def test_stats_for_staff(staff_bot: Harness) -> None:
    await _say(staff_bot, VILLAGER, "/start waihong", count=2)
    await _say(staff_bot, VILLAGER, "土地承包期是多少年")
    texts = await _say(staff_bot, STAFF, "/stats")
    assert "本月" in texts[0]
    assert "上月" in texts[0]
    assert "咨询<3人次" in texts[0]  # one villager: suppressed
    village = await _say(staff_bot, STAFF, "/stats 外洪村")
    assert "外洪村" in village[0]
    unknown = await _say(staff_bot, STAFF, "/stats 火星村")
    assert "没有找到" in unknown[0]


async def test_gaps_and_ledger_for_staff(staff_bot: Harness) -> None:
    await _say(staff_bot, VILLAGER, "/start waihong", count=2)
    await _say(staff_bot, VILLAGER, "隔壁家的狗半夜一直叫吵得睡不着")
    gaps = await _say(staff_bot, STAFF, "/gaps")
    assert gaps[0] in (rp.GAPS_NONE,) or "没答上" in gaps[0]
    await _say(staff_bot, STAFF, "/ledger")
    await staff_bot.emulator.wait_for(lambda: bool(staff_bot.emulator.sent("sendDocument")))
    document = staff_bot.emulator.sent("sendDocument", STAFF)[0]["document"]
    assert document["filename"].endswith(".xlsx")
    book = load_workbook(io.BytesIO(document["content"]))
    assert "台账" in book.sheetnames
    assert book["台账"].max_row >= 2
