"""The error handler: log with the traceback, tell the villager we are busy, never crash."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import texts

__all__ = ["error_handler"]

logger = logging.getLogger(__name__)


async def error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error and, when a chat is known, answer with a short busy note."""
    logger.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(chat_id=update.effective_chat.id, text=texts.BUSY)
        except TelegramError:
            logger.warning("could not send the busy note")
