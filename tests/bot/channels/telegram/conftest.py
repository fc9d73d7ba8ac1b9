"""Run the real PTB Application against the Bot API emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.channels.telegram import build_application
from bot.config import Config
from bot.ops.telegram_emulator import Emulator
from bot.services.consultation import ConsultationService
from bot.wiring import services_for

TOKEN = "123456:TEST-TOKEN"


@dataclass
class Harness:
    """A running bot and its emulator."""

    emulator: Emulator
    service: ConsultationService
    application: object


@pytest.fixture(name="emulator")
def emulator_fixture() -> AsyncIterator[Emulator]:
    emulator = Emulator(seed=7)
    emulator.start()
    yield emulator  # type: ignore[misc]
    emulator.stop()


def configured(config: Config, base_url: str) -> Config:
    """The example config pointed at the emulator."""
    telegram = config.telegram.model_copy(update={"base_url": base_url, "base_file_url": base_url})
    return config.model_copy(update={"telegram": telegram})


@pytest.fixture(name="bot")
async def bot_fixture(
    emulator: Emulator, config: Config, service: ConsultationService
) -> AsyncIterator[Harness]:
    """The real Application, polling the emulator."""
    cfg = configured(config, emulator.base_url)
    service.config = cfg
    application = build_application(services_for(service), TOKEN)
    async with application:
        if application.post_init is not None:
            await application.post_init(application)
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        yield Harness(emulator, service, application)
        await application.updater.stop()
        await application.stop()
