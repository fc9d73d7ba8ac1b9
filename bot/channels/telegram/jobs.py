"""JobQueue callbacks: thin; they ask the service what is due and send it."""

from __future__ import annotations

import asyncio
import logging

from telegram.ext import ContextTypes

from bot.channels.telegram.handlers import get_service
from bot.channels.telegram.send import deliver_notices
from bot.services.outcomes import held_notices

__all__ = ["release_held", "reload_knowledge", "sla_sweep"]

logger = logging.getLogger(__name__)


async def sla_sweep(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send due reminders, held cards and failovers, recomputed from the database each run."""
    service = get_service(context)
    notices = await asyncio.to_thread(service.escalations.sweep)
    if notices:
        logger.info("sla sweep: %d notices", len(notices))
        await deliver_notices(context.bot, notices, service)


async def reload_knowledge(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Pick up entries approved from the command line: rebuild the matcher when the KB changed."""
    service = get_service(context)
    if await asyncio.to_thread(service.refresh_knowledge):
        logger.info("knowledge base reloaded: %d entries", len(service.kb.entries))


async def release_held(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer messages the pace limit held back, in order, as the pace allows."""
    service = get_service(context)
    outcomes = await asyncio.to_thread(service.release_held)
    notices = held_notices(outcomes)
    if notices:
        logger.info("released %d held messages", len(outcomes))
        await deliver_notices(context.bot, notices, service)
