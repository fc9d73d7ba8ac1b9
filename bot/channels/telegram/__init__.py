"""The Telegram channel: a thin adapter turning updates into service calls and replies into
messages. All conversation logic lives in `bot.services.consultation`."""

from bot.channels.telegram.app import build_application

__all__ = ["build_application"]
