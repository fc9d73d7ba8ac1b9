"""Every handler the bot may register, for the suites that enumerate them (access, hostile)."""

from __future__ import annotations

import importlib.util
from typing import Any

from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.service import ConsultationService
from bot.telegram.staff import register_staff_handlers

__all__ = ["callback_patterns", "commands", "register_everything"]


def register_everything(application: Application, service: ConsultationService) -> None:  # type: ignore[type-arg]
    """Add the staff and campaign handlers next to those of `build_application`."""
    register_staff_handlers(application)
    if importlib.util.find_spec("bot.telegram.campaign_handlers") is None:
        return  # pragma: no cover - before the campaigns land
    from bot.campaigns import CampaignService
    from bot.telegram.campaign_handlers import register_campaign_handlers

    campaigns = CampaignService(
        config=service.config, kb=service.kb, db=service.db, clock=service.clock
    )
    register_campaign_handlers(application, campaigns, schedule=False)


def commands(application: Any) -> set[str]:
    """Every command a CommandHandler of the application answers, in every group."""
    found: set[str] = set()
    for handlers in application.handlers.values():
        for handler in handlers:
            if isinstance(handler, CommandHandler):
                found |= set(handler.commands)
    return found


def callback_patterns(application: Any) -> list[str | None]:
    """The data patterns of every CallbackQueryHandler (None: the catch-all of the service)."""
    out: list[str | None] = []
    for handlers in application.handlers.values():
        for handler in handlers:
            if isinstance(handler, CallbackQueryHandler):
                pattern = handler.pattern
                out.append(None if pattern is None else str(getattr(pattern, "pattern", pattern)))
    return out
