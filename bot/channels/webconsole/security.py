"""Console sessions and forms: the signing secret, CSRF tokens, and security headers."""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ENV_SECRET", "SecurityHeaders", "csrf_ok", "csrf_token", "load_secret"]

logger = logging.getLogger(__name__)

ENV_SECRET = "LAWBOT_CONSOLE_SECRET"
CSRF_KEY = "csrf"
HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def load_secret(path: Path) -> str:
    """The session-signing secret: `LAWBOT_CONSOLE_SECRET`, else a random one kept in `path`."""
    from_env = os.environ.get(ENV_SECRET, "").strip()
    if from_env:
        return from_env
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret)
    logger.info("console session secret created in %s (set %s to choose one)", path, ENV_SECRET)
    return secret


def csrf_token(session: dict[str, object]) -> str:
    """The session's CSRF token, made on first use."""
    token = session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return token


def csrf_ok(session: dict[str, object], submitted: object) -> bool:
    """Tell whether a submitted form carries the session's token."""
    token = session.get(CSRF_KEY)
    return (
        isinstance(token, str)
        and isinstance(submitted, str)
        and hmac.compare_digest(token.encode(), submitted.encode())
    )


class SecurityHeaders:
    """Add the console's security headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, sending)
