"""The error handler: log with the traceback, tell the villager we are busy, never crash."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import NetworkError, TelegramError
from telegram.ext import ContextTypes

from bot import texts

__all__ = ["error_handler"]

logger = logging.getLogger(__name__)


async def error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error and, when a chat is known, answer with a short busy note.

    A network error of the polling loop (no update: a 5xx, reset or timeout of getUpdates) is
    transient and retried by PTB; it is logged as a warning, not as an unhandled error.
    """
    if update is None and isinstance(context.error, NetworkError):
        logger.warning("Bot API unreachable while polling (retrying): %s", context.error)
        return
    logger.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(chat_id=update.effective_chat.id, text=texts.BUSY)
        except TelegramError:
            logger.warning("could not send the busy note")
