"""The justice office's web console under `/console`: server-rendered pages, no build step."""

from bot.channels.webconsole.app import SESSION_COOKIE, build_console_app

__all__ = ["SESSION_COOKIE", "build_console_app"]
