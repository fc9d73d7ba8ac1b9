"""JobQueue callbacks: thin; they ask the service what is due and send it."""

from __future__ import annotations

import asyncio
import logging

from telegram.ext import ContextTypes

from bot.telegram.handlers import get_service
from bot.telegram.send import deliver_notices

__all__ = ["sla_sweep"]

logger = logging.getLogger(__name__)


async def sla_sweep(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send due reminders, held cards and failovers, recomputed from the database each run."""
    service = get_service(context)
    notices = await asyncio.to_thread(service.escalations.sweep)
    if notices:
        logger.info("sla sweep: %d notices", len(notices))
        await deliver_notices(context.bot, notices, service)
