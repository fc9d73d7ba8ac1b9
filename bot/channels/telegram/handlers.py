"""Telegram handlers: one job each; they call the service in a worker thread and deliver."""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.channels.telegram import reliability
from bot.channels.telegram.context import SERVICES_KEY, get_service, get_services
from bot.channels.telegram.send import deliver
from bot.services.consultation import Outcome, Sender

__all__ = [
    "ADVISOR_COMMANDS",
    "SERVICES_KEY",
    "advisor_command",
    "answer_button",
    "ask",
    "command",
    "get_service",
    "get_services",
    "other_input",
    "shared_contact",
    "staff_command",
    "unknown_command",
]

logger = logging.getLogger(__name__)
CHANNEL = "telegram"
ADVISOR_COMMANDS = ("queue", "mine", "done", "stats_me", "reply")
DRAFT_COMMANDS = ("drafts", "approve", "reject")


def _sender(update: Update) -> Sender | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return None
    return Sender(channel=CHANNEL, user_id=str(user.id), chat_id=str(chat.id))


def _update_key(update: Update) -> str:
    return f"tg:{update.update_id}"


async def _run(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    call: Callable[[Sender], Outcome],
    *,
    update_key: str | None = None,
) -> None:
    """Run a service call (retried while the database is unavailable) and deliver its outcome.

    With `update_key` (messages recorded under the update id) the consultation is stamped as
    answered once the replies went out, so a redelivered update is not answered twice.
    """
    sender = _sender(update)
    chat = update.effective_chat
    if sender is None or chat is None:
        return
    service = get_service(context)
    outcome = await reliability.call_with_retry(
        context, update, lambda: call(sender), chat_id=chat.id
    )
    if outcome is None:
        return  # held: the database stayed unavailable; spooled for replay
    if outcome.duplicate:
        return
    await deliver(context.bot, chat.id, outcome, service)
    if update_key is not None and outcome.consultation_id is not None:
        try:
            await reliability.retry_db(lambda: service.mark_replied(update_key))
        except Exception as exc:  # the reply went out; a redelivery may repeat it once
            if not reliability.is_transient(exc):
                raise
            logger.warning("could not stamp %s as answered: database unavailable", update_key)


def command(name: str) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], object]:
    """Build the handler of a villager command that maps to one service call."""

    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        service = get_service(context)
        arg = " ".join(context.args or [])
        await _run(update, context, lambda sender: service.command(sender, name, arg))

    handle.__name__ = f"{name}_command"
    handle.__doc__ = f"Handle /{name}."
    return handle


def _question_text(message: Message, bot_username: str) -> str | None:
    """Return the question in a message; in groups only when the bot is mentioned."""
    text = message.text or ""
    if message.chat.type == ChatType.PRIVATE:
        return text
    mention = f"@{bot_username}"
    if mention.lower() not in text.lower():
        return None
    start = text.lower().index(mention.lower())
    return (text[:start] + text[start + len(mention) :]).strip()


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Treat a text message (or an edited one) as a question."""
    message = update.effective_message
    if message is None:
        return
    text = _question_text(message, context.bot.username)
    if text is None:
        return
    service = get_service(context)
    key = _update_key(update)
    original = message.reply_to_message
    if original is not None and message.chat.type == ChatType.PRIVATE:
        chat_id, card_id = str(message.chat.id), original.message_id
        from_bot = original.from_user is not None and original.from_user.id == context.bot.id
        card_text = (original.text or "") if from_bot else ""

        def answer_or_ask(s: Sender) -> Outcome:
            answered = service.advisor_reply_to_card(s, chat_id, card_id, text, card_text)
            return answered if answered is not None else service.ask(s, text, update_key=key)

        await _run(update, context, answer_or_ask, update_key=key)
        return
    await _run(update, context, lambda s: service.ask(s, text, update_key=key), update_key=key)


def advisor_command(name: str) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], object]:
    """Build the handler of an advisor command (/queue, /mine, /done, /stats_me, /reply)."""

    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        service = get_service(context)
        message = update.effective_message
        text = message.text if message and message.text else ""
        arg = text.split(maxsplit=1)[1] if len(text.split(maxsplit=1)) > 1 else ""
        await _run(update, context, lambda s: service.advisor_command(s, name, arg))

    handle.__name__ = f"{name}_command"
    handle.__doc__ = f"Handle the advisor command /{name}."
    return handle


def staff_command(name: str) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], object]:
    """Build the handler of a staff command on drafts (/drafts, /approve, /reject)."""

    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        service = get_service(context)
        arg = " ".join(context.args or [])
        await _run(update, context, lambda s: service.staff_drafts(s, name, arg))

    handle.__name__ = f"{name}_command"
    handle.__doc__ = f"Handle the staff command /{name}."
    return handle


async def shared_contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Pass a phone number the villager shared (their own contact only) to the advisor."""
    message = update.effective_message
    user = update.effective_user
    if message is None or message.contact is None or user is None:
        return
    if message.contact.user_id != user.id:
        return  # someone else's card: not consent from that person
    service = get_service(context)
    phone = message.contact.phone_number
    await _run(update, context, lambda s: service.share_phone(s, phone))


async def other_input(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Record a voice note, photo, sticker, file or location and say what the bot reads."""
    message = update.effective_message
    if message is None or message.chat.type != ChatType.PRIVATE:
        return
    kind = next(
        (
            k
            for k in (
                "voice",
                "audio",
                "photo",
                "sticker",
                "document",
                "location",
                "video",
                "video_note",
                "contact",
            )
            if getattr(message, k)
        ),
        "other",
    )
    kind = {"audio": "voice", "video_note": "video"}.get(kind, kind)
    service = get_service(context)
    key = _update_key(update)
    caption = message.caption or ""
    await _run(
        update,
        context,
        lambda s: service.unsupported(s, kind, update_key=key, caption=caption),
        update_key=key,
    )


async def answer_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Carry out an inline button's action."""
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    service = get_service(context)
    action = query.data or ""
    await _run(update, context, lambda s: service.act(s, action))


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Tell the user the command does not exist."""
    message = update.effective_message
    if message is None or message.chat.type != ChatType.PRIVATE:
        return
    await _run(update, context, get_service(context).unknown_command)
