"""JobQueue callbacks: thin; they ask the service what is due and send it."""

from __future__ import annotations

import asyncio
import logging

from telegram.ext import ContextTypes

from bot.telegram.handlers import get_service
from bot.telegram.send import deliver_notices

__all__ = ["reload_knowledge", "sla_sweep"]

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
    from bot.runtime import load_knowledge

    service = get_service(context)
    kb = await asyncio.to_thread(load_knowledge, service.config)
    if kb.fingerprint != service.kb.fingerprint:
        await asyncio.to_thread(service.reload_knowledge, kb)
        logger.info("knowledge base reloaded: %d entries", len(kb.entries))
