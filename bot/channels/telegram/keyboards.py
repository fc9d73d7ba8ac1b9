"""The only place InlineKeyboardMarkup is built."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.services.replies import Reply

__all__ = ["markup"]


def markup(reply: Reply) -> InlineKeyboardMarkup | None:
    """Turn a reply's button rows into an inline keyboard (None when it has no buttons)."""
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.label, callback_data=b.action) for b in row]
            for row in reply.buttons
        ]
    )
