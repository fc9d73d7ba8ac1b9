"""Webhook mode: the emulator posts updates to the bot's webhook instead of answering getUpdates."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from sqlmodel import select

from bot.channels.telegram import build_application
from bot.config import Config
from bot.ops.telegram_emulator import Emulator
from bot.services.consultation import ConsultationService
from bot.wiring import services_for
from knowledge.models import KnowledgeBase
from knowledge.triage import detect_risk
from storage.models import Consultation
from tests.bot.channels.telegram.conftest import TOKEN, Harness, configured

USER = 6001


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(name="webhook_bot")
async def webhook_bot_fixture(
    emulator: Emulator, config: Config, service: ConsultationService
) -> AsyncIterator[Harness]:
    cfg = configured(config, emulator.base_url)
    service.config = cfg
    application = build_application(services_for(service), TOKEN)
    port = _free_port()
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path="hook",
            webhook_url=f"http://127.0.0.1:{port}/hook",
        )
        yield Harness(emulator, service, application)
        await application.updater.stop()
        await application.stop()


async def test_a_question_posted_to_the_webhook_is_answered_and_logged(
    webhook_bot: Harness, kb: KnowledgeBase
) -> None:
    emulator = webhook_bot.emulator
    assert emulator.webhook_url is not None
    assert emulator.sent("setWebhook")
    entry = next(e for e in kb.entries if detect_risk(e.question, kb.triage) is None)
    emulator.send_text(USER, "/start liujia")
    await emulator.wait_for(lambda: len(emulator.texts_to(USER)) >= 2)
    emulator.send_text(USER, entry.question)
    await emulator.wait_for(lambda: len(emulator.texts_to(USER)) >= 3)
    assert (
        entry.answer in emulator.texts_to(USER)[-1] or entry.short in emulator.texts_to(USER)[-1]
    )
    with webhook_bot.service.db.session() as session:
        row = session.exec(select(Consultation)).one()
    assert (row.channel, row.village_code) == ("telegram", "liujia")
    assert emulator.sent("getUpdates") == []
