"""Deliver a service outcome: replies to the sender's chat, notices to other users."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from telegram import Bot, KeyboardButton, Message, ReplyKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot import texts
from bot.channels.telegram.keyboards import markup
from bot.services.consultation import ConsultationService
from bot.services.outcomes import Notice, Outcome
from bot.services.replies import Reply

__all__ = ["deliver", "deliver_notices"]

logger = logging.getLogger(__name__)
TELEGRAM_LIMIT = 4096
CHANNEL = "telegram"
MAX_FAILOVER_ROUNDS = 3
SEND_ATTEMPTS = 4
SEND_RETRY_DELAY = 0.2


def _keyboard(reply: Reply) -> object:
    if reply.request_contact:
        return ReplyKeyboardMarkup(
            [[KeyboardButton(texts.BUTTON_SEND_CONTACT, request_contact=True)]],
            one_time_keyboard=True,
            resize_keyboard=True,
        )
    return markup(reply)


async def deliver(
    bot: Bot, chat_id: int | str, outcome: Outcome, service: ConsultationService
) -> None:
    """Send the replies in order, then the notices; a notice that fails is logged, not raised.

    A network error or a 5xx is retried a few times with backoff (the Bot API answered nothing
    useful, so nothing was delivered); a chat that is gone (403 blocked, 400 chat not found)
    ends the delivery with a warning: there is nobody to answer.
    """
    for reply in outcome.replies:
        try:
            await _send_retrying(
                bot,
                chat_id=chat_id,
                text=reply.text[:TELEGRAM_LIMIT],
                reply_markup=_keyboard(reply),
            )
        except (Forbidden, BadRequest) as exc:
            logger.warning("reply to chat %s not delivered: %s", chat_id, exc)
            break
    await deliver_notices(bot, outcome.notices, service)


async def _send_retrying(bot: Bot, **params: object) -> Message:
    delay = SEND_RETRY_DELAY
    for attempt in range(SEND_ATTEMPTS):
        try:
            return await bot.send_message(**params)  # type: ignore[arg-type]
        except RetryAfter as exc:
            if attempt == SEND_ATTEMPTS - 1:
                raise
            wait = exc.retry_after
            await asyncio.sleep(
                wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            )
        except NetworkError as exc:  # includes TimedOut; BadRequest/Forbidden are not retried
            if isinstance(exc, BadRequest) or attempt == SEND_ATTEMPTS - 1:
                raise
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


async def deliver_notices(
    bot: Bot, notices: tuple[Notice, ...] | list[Notice], service: ConsultationService
) -> None:
    """Send notices to advisors, the office and villagers; a blocked advisor triggers failover."""
    pending = list(notices)
    for _ in range(MAX_FAILOVER_ROUNDS):
        failover: list[Notice] = []
        for notice in pending:
            if notice.channel != CHANNEL:
                continue  # console villagers read their answers from the inbox
            try:
                sent = await _send_retrying(
                    bot,
                    chat_id=notice.user_id,
                    text=notice.reply.text[:TELEGRAM_LIMIT],
                    reply_markup=_keyboard(notice.reply),
                )
            except Forbidden:
                logger.warning("notice to %s refused: the user blocked the bot", notice.user_id)
                if notice.escalation_id is not None:
                    failover += await asyncio.to_thread(
                        service.escalations.unreachable, notice.escalation_id, notice.user_id
                    )
                continue
            except TelegramError as exc:
                logger.warning("notice to %s failed: %s", notice.user_id, exc)
                continue
            if notice.escalation_id is not None:
                await asyncio.to_thread(
                    service.escalations.record_card,
                    notice.escalation_id,
                    str(notice.user_id),
                    sent.message_id,
                )
            if notice.turn_id is not None:
                await asyncio.to_thread(service.escalations.mark_delivered, notice.turn_id)
        if not failover:
            return
        pending = failover
