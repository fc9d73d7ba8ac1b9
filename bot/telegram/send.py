"""Deliver a service outcome: replies to the sender's chat, notices to other users."""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.error import Forbidden, TelegramError

from bot.service import Outcome
from bot.telegram.keyboards import markup

__all__ = ["deliver"]

logger = logging.getLogger(__name__)
TELEGRAM_LIMIT = 4096


async def deliver(bot: Bot, chat_id: int | str, outcome: Outcome) -> None:
    """Send the replies in order, then the notices; a notice that fails is logged, not raised."""
    for reply in outcome.replies:
        await bot.send_message(
            chat_id=chat_id, text=reply.text[:TELEGRAM_LIMIT], reply_markup=markup(reply)
        )
    for notice in outcome.notices:
        try:
            await bot.send_message(
                chat_id=notice.user_id,
                text=notice.reply.text[:TELEGRAM_LIMIT],
                reply_markup=markup(notice.reply),
            )
        except Forbidden:
            logger.warning("notice to %s refused: the user blocked the bot", notice.user_id)
        except TelegramError as exc:
            logger.warning("notice to %s failed: %s", notice.user_id, exc)
