"""Every handler the bot may register, for the suites that enumerate them (access, hostile)."""

from __future__ import annotations

from typing import Any

from telegram.ext import CallbackQueryHandler, CommandHandler

__all__ = ["callback_patterns", "commands"]


def commands(application: Any) -> set[str]:
    """Every command a CommandHandler of the application answers, in every group."""
    found: set[str] = set()
    for handlers in application.handlers.values():
        for handler in handlers:
            if isinstance(handler, CommandHandler):
                found |= set(handler.commands)
    return found


def callback_patterns(application: Any) -> list[str | None]:
    """The data patterns of every CallbackQueryHandler (None: the catch-all of the service)."""
    out: list[str | None] = []
    for handlers in application.handlers.values():
        for handler in handlers:
            if isinstance(handler, CallbackQueryHandler):
                pattern = handler.pattern
                out.append(None if pattern is None else str(getattr(pattern, "pattern", pattern)))
    return out
