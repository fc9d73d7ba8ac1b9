"""The reliability suite: the real Application with the update journal, against the emulator."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.channels.telegram import build_application, reliability
from bot.config import Config
from bot.ops.telegram_emulator import Emulator
from bot.services.consultation import ConsultationService
from bot.wiring import services_for
from storage.models import Consultation
from tests.bot.channels.telegram.conftest import TOKEN, configured

__all__ = ["RBot", "rows"]


@dataclass
class RBot:
    """A running bot with its journal, and the emulator it polls."""

    emulator: Emulator
    service: ConsultationService
    application: Any
    journal: reliability.Journal
    errors: list[BaseException] = field(default_factory=list)


def rows(service: ConsultationService) -> list[Consultation]:
    """Every consultation, in id order."""
    with service.db.session() as session:
        return list(session.exec(select(Consultation).order_by(Consultation.id)).all())


@pytest.fixture(name="emulator")
def emulator_fixture() -> AsyncIterator[Emulator]:
    emulator = Emulator(seed=11)
    emulator.start()
    yield emulator  # type: ignore[misc]
    emulator.stop()


async def start_bot(
    emulator: Emulator, config: Config, service: ConsultationService, journal_dir: Path
) -> RBot:
    """Build, journal and start the Application polling the emulator."""
    cfg = configured(config, emulator.base_url)
    service.config = cfg
    application = build_application(services_for(service), TOKEN)
    journal = reliability.install(application, journal_dir, replay_every=0.5)
    harness = RBot(emulator, service, application, journal)

    async def record(update: object, context: Any) -> None:
        harness.errors.append(context.error)

    application.add_error_handler(record)
    await application.initialize()
    await application.start()
    await application.updater.start_polling(poll_interval=0.0, timeout=1)
    return harness


async def stop_bot(harness: RBot) -> None:
    """Stop polling and the Application."""
    await harness.application.updater.stop()
    await harness.application.stop()
    await harness.application.shutdown()


@pytest.fixture(name="rbot")
async def rbot_fixture(
    emulator: Emulator, config: Config, service: ConsultationService, tmp_path: Path
) -> AsyncIterator[RBot]:
    """The real Application with the journal installed, polling the emulator."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    harness = await start_bot(emulator, config, service, tmp_path / "journal")
    yield harness
    await stop_bot(harness)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Heavy scenarios marked `slow` run only when selected (`-m slow`)."""
    if "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow scenario: run with -m slow")
    for item in items:
        if "slow" in item.keywords and "tests/reliability" in str(item.fspath):
            item.add_marker(skip)


def plain_questions(service: ConsultationService, count: int) -> list[str]:
    """Questions the bot answers with exactly one message (an FAQ answer, no risk triage)."""
    from knowledge.triage import detect_risk

    out: list[str] = []
    for entry in service.kb.entries:
        if detect_risk(entry.question, service.kb.triage) is not None:
            continue
        result = service.matcher.match(entry.question)
        if result.decision == "answer" and result.entry is not None:
            out.append(entry.question)
        if len(out) == count:
            return out
    raise AssertionError(f"only {len(out)} plain questions")
