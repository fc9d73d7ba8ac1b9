"""The HTTP JSON API channel: a Starlette app over the services (see docs/http-api.md)."""

from __future__ import annotations

from bot.channels.http.app import build_http_app
from bot.channels.http.keys import ApiKeyError, ApiKeys

__all__ = ["ApiKeyError", "ApiKeys", "build_http_app"]
