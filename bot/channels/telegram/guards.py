"""Role checks shared by the staff-only handlers (statistics, campaigns)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.config import Config

__all__ = ["Handler", "staff_only"]

logger = logging.getLogger(__name__)

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def staff_only(
    name: str,
    body: Handler,
    *,
    config_of: Callable[[ContextTypes.DEFAULT_TYPE], Config],
    refusal: str,
    private_only: str,
    prefix: str,
) -> Handler:
    """Wrap a handler so only staff may run it, in a private chat; others are refused and logged.

    The wrapper stops further handlers, so a refused command never falls through to "unknown command".
    """

    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user, chat, message = update.effective_user, update.effective_chat, update.message
        if user is None or chat is None or message is None:
            raise ApplicationHandlerStop
        if not config_of(context).is_staff(user.id):
            logger.warning("refused /%s to non-staff user %s", name, user.id)
            await message.reply_text(refusal)
            raise ApplicationHandlerStop
        if chat.type != ChatType.PRIVATE:
            await message.reply_text(private_only)
            raise ApplicationHandlerStop
        logger.info("/%s by staff user %s", name, user.id)
        await body(update, context)
        raise ApplicationHandlerStop

    handle.__name__ = f"{prefix}_{name}"
    return handle
