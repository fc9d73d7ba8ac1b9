"""The mobile web chat channel (`/chat`): a page and its JSON/SSE endpoints over the services,
served by the HTTP app (`build_http_app(..., extra_routes=web_routes(services))`)."""

from __future__ import annotations

from bot.channels.web.app import CHANNEL, COOKIE, web_routes
from bot.channels.web.device import SECRET_ENV, Devices, WebSecretError, load_secret

__all__ = [
    "CHANNEL",
    "COOKIE",
    "SECRET_ENV",
    "Devices",
    "WebSecretError",
    "load_secret",
    "web_routes",
]
