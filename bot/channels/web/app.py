"""The mobile web chat: one page at `/chat` and its JSON endpoints under `/chat/api/`.

The browser holds no key: a signed, HttpOnly device cookie names the villager (channel `web`),
and a CSRF token bound to it comes with the page. Each request is checked in full (same site,
device, token, body) before the services see it; a `message_id` from the page makes a message
exactly-once, as in the JSON API. Later replies come by poll or by Server-Sent Events.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlsplit

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot import texts
from bot.channels.http.conversation import Conversation, DuplicateMessage, dumps, reply_json
from bot.channels.http.limits import SlidingWindow
from bot.channels.http.sse import StreamSettings, event_stream, stream_response
from bot.channels.web.device import Devices, load_secret, secret_dir_for
from bot.config import Http
from bot.services import actions
from bot.services.container import Services
from bot.services.outcomes import Notice, Sender

__all__ = ["CHANNEL", "COOKIE", "PREFIX", "web_routes"]

logger = logging.getLogger(__name__)

CHANNEL = "web"
PREFIX = "/chat"
COOKIE = "lawbot_device"
COOKIE_MAX_AGE = int(timedelta(days=400).total_seconds())  # the longest browsers keep
CSRF_HEADER = "x-csrf-token"
MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{8,32}$")
ACTION_MAX_CHARS = 256
BODY_OVERHEAD = 4 * 1024
PRUNE_EVERY = timedelta(minutes=10)
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
SAME_SITE = ("same-origin", "none")  # Sec-Fetch-Site values of the page's own requests
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Typed words that run a command: the menu's labels and the messenger menu's descriptions.
WORDS = {
    **{label: text for label, text in texts.WEB_MENU.items() if text.startswith("/")},
    **{label: f"/{name}" for name, label in texts.COMMAND_MENU.items()},
}

Notify = Callable[[tuple[Notice, ...]], Awaitable[None]]


class WebError(Exception):
    """A request the chat refuses: HTTP status, a code, and the Chinese message's parameters."""

    def __init__(
        self, status: int, code: str, *, headers: dict[str, str] | None = None, **params: object
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.headers = headers or {}
        self.params = params

    def response(self) -> JSONResponse:
        """Render the error as `{"code", "message"}` (the page shows the message)."""
        message = texts.WEB_ERRORS[self.code].format(**self.params)
        return JSONResponse(
            {"code": self.code, "message": message}, status_code=self.status, headers=self.headers
        )


async def _log_notices(notices: tuple[Notice, ...]) -> None:
    for notice in notices:
        logger.warning(
            "notice for %s user %s (escalation %s) not delivered by the web chat; "
            "advisors still see it in /queue",
            notice.channel,
            notice.user_id,
            notice.escalation_id,
        )


def web_routes(
    services: Services,
    *,
    notify: Notify | None = None,
    settings: Http | None = None,
    secret: bytes | None = None,
    stream: StreamSettings | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[BaseRoute]:
    """The web chat's routes, for `build_http_app(..., extra_routes=web_routes(services))`.

    Limits come from `[http]` (`max_text_chars`, `user_requests_per_minute` per device,
    `idempotency_hours`); the cookie secret from `$LAWBOT_WEB_SECRET` or a generated file.
    """
    settings = settings or services.config.http
    if secret is None:
        secret = load_secret(secret_dir_for(services.consultation.db.url))
    chat = _Chat(
        services=services,
        settings=settings,
        conversation=Conversation(services, settings.idempotency_hours),
        devices=Devices(secret),
        notify=notify or _log_notices,
        limit=SlidingWindow(settings.user_requests_per_minute, clock=monotonic),
        stream=stream or StreamSettings(),
        template=Template((HERE / "page.html").read_text(encoding="utf-8")),
        version=_version(),
    )
    return [
        Route(PREFIX, chat.page, methods=["GET"]),
        Route(f"{PREFIX}/api/messages", chat.messages, methods=["POST"]),
        Route(f"{PREFIX}/api/messages", chat.inbox, methods=["GET"]),
        Route(f"{PREFIX}/api/actions", chat.actions, methods=["POST"]),
        Route(f"{PREFIX}/api/stream", chat.events, methods=["GET"]),
        Mount(f"{PREFIX}/static", app=StaticFiles(directory=STATIC), name="chat-static"),
    ]


def _version() -> str:
    """A short hash of the static files: a new release busts the browsers' caches."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.iterdir()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def _refusing(
    handler: Callable[[_Chat, Request], Awaitable[Response]],
) -> Callable[[_Chat, Request], Awaitable[Response]]:
    """Answer a `WebError` raised by the handler with its JSON response."""

    async def wrapped(self: _Chat, request: Request) -> Response:
        try:
            return await handler(self, request)
        except WebError as exc:
            return exc.response()

    wrapped.__doc__ = handler.__doc__
    return wrapped


@dataclass
class _Chat:
    services: Services
    settings: Http
    conversation: Conversation
    devices: Devices
    notify: Notify
    limit: SlidingWindow
    stream: StreamSettings
    template: Template
    version: str

    # --- the page -------------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        """GET /chat[?v=<village code>]: the chat page (and a device cookie on the first visit)."""
        config = self.services.config
        village = config.village(request.query_params.get("v", "").strip().lower())
        device = self.devices.device(request.cookies.get(COOKIE)) or self.devices.new()
        title = texts.WEB_TITLE.format(town=config.town.name)
        client_texts = {**texts.WEB_ERRORS, "sending": texts.WEB_SENDING, "send": texts.WEB_SEND}
        client_texts["too_long"] = client_texts["too_long"].format(
            limit=self.settings.max_text_chars
        )
        values = {
            "title": title,
            "version": self.version,
            "intro": texts.WEB_INTRO,
            "village_note": (
                texts.WEB_VILLAGE_NOTE.format(village=village.name) if village else ""
            ),
            "csrf": self.devices.csrf(device),
            "owner": self.devices.owner(device),
            "village": village.code if village else "",
            "max_chars": str(self.settings.max_text_chars),
            "forget": actions.encode(actions.FORGET, "y"),
            "cleared": texts.WEB_CLEARED,
            "texts": json.dumps(client_texts, ensure_ascii=False),
            "big": texts.WEB_BIG_TEXT,
            "placeholder": texts.WEB_PLACEHOLDER,
            "send": texts.WEB_SEND,
            "menu_label": texts.WEB_MENU_LABEL,
            "noscript": texts.WEB_NOSCRIPT,
        }
        escaped = {k: html.escape(v, quote=True) for k, v in values.items()}
        escaped["menu"] = "\n".join(
            f'<button type="button" class="link" data-send="{html.escape(text, quote=True)}">'
            f"{html.escape(label)}</button>"
            for label, text in texts.WEB_MENU.items()
        )
        response = Response(
            self.template.substitute(escaped),
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": CSP,
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin",
            },
        )
        # Set again on every visit: a phone in use keeps its identity beyond the cookie's age.
        response.set_cookie(
            COOKIE,
            self.devices.cookie(device),
            max_age=COOKIE_MAX_AGE,
            path=PREFIX,
            httponly=True,
            samesite="lax",
            secure=_https(request),
        )
        return response

    # --- the endpoints --------------------------------------------------------------------------

    @_refusing
    async def messages(self, request: Request) -> Response:
        """POST /chat/api/messages {text, message_id[, village]}: the replies, exactly once."""
        device = self._device(request, request.headers.get(CSRF_HEADER))
        data = await self._body(request)
        text = data.get("text")
        message_id = data.get("message_id")
        village = data.get("village")
        if not isinstance(text, str) or not isinstance(message_id, str):
            raise WebError(400, "bad_request")
        if not MESSAGE_ID.fullmatch(message_id) or not _encodable(text):
            raise WebError(400, "bad_request")
        if not text.strip():
            raise WebError(422, "empty")
        if len(text) > self.settings.max_text_chars:
            raise WebError(413, "too_long", limit=self.settings.max_text_chars)
        if village is not None and (
            not isinstance(village, str) or self.services.config.village(village) is None
        ):
            raise WebError(400, "unknown_village")
        self._limit(device)
        text = WORDS.get(text.strip(), text)
        update_key = f"{CHANNEL}:{device}:{message_id}"
        try:
            turn = await run_in_threadpool(
                self.conversation.converse, _sender(device), text, village, update_key
            )
        except DuplicateMessage:
            raise WebError(409, "duplicate") from None
        if not turn.replay:
            await run_in_threadpool(self.conversation.prune, every=PRUNE_EVERY)
        return self._json(turn.body, turn.notices)

    @_refusing
    async def actions(self, request: Request) -> Response:
        """POST /chat/api/actions {action}: carry out the button the villager tapped."""
        device = self._device(request, request.headers.get(CSRF_HEADER))
        data = await self._body(request)
        action = data.get("action")
        if not isinstance(action, str) or not action.strip() or len(action) > ACTION_MAX_CHARS:
            raise WebError(400, "bad_request")
        if not _encodable(action):
            raise WebError(400, "bad_request")
        self._limit(device)
        turn = await run_in_threadpool(self.conversation.act, _sender(device), action)
        return self._json(turn.body, turn.notices)

    @_refusing
    async def inbox(self, request: Request) -> Response:
        """GET /chat/api/messages: replies that arrived later (each once)."""
        device = self._device(request, request.headers.get(CSRF_HEADER))
        self._limit(device)
        replies, notices = await run_in_threadpool(self.conversation.later, _sender(device))
        return self._json(dumps({"replies": [reply_json(r) for r in replies]}), notices)

    @_refusing
    async def events(self, request: Request) -> Response:
        """GET /chat/api/stream?t=<token>: later replies as Server-Sent Events."""
        device = self._device(request, request.query_params.get("t"))
        self._limit(device)
        sender = _sender(device)
        events = event_stream(
            request, lambda: self.conversation.later(sender), self._deliver, self.stream
        )
        return stream_response(events)

    # --- checks ---------------------------------------------------------------------------------

    def _device(self, request: Request, token: str | None) -> str:
        """The device of a same-site request with a valid cookie and token, else refuse."""
        if not _same_site(request):
            raise WebError(403, "forbidden")
        device = self.devices.device(request.cookies.get(COOKIE))
        if device is None:
            raise WebError(401, "no_device")
        if not self.devices.check_csrf(device, token):
            raise WebError(403, "forbidden")
        return device

    def _limit(self, device: str) -> None:
        wait = self.limit.hit(device)
        if wait is not None:
            raise WebError(429, "rate_limited", headers={"Retry-After": str(wait)}, seconds=wait)

    async def _body(self, request: Request) -> dict[str, Any]:
        limit = BODY_OVERHEAD + 12 * self.settings.max_text_chars
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > limit:
                raise WebError(413, "too_long", limit=self.settings.max_text_chars)
        try:
            data = json.loads(bytes(raw))
        except (ValueError, RecursionError):
            raise WebError(400, "bad_request") from None
        if not isinstance(data, dict):
            raise WebError(400, "bad_request")
        return data

    # --- answers --------------------------------------------------------------------------------

    def _json(self, body: str, notices: tuple[Notice, ...]) -> Response:
        background = BackgroundTask(self._deliver, notices) if notices else None
        return Response(
            body,
            media_type="application/json",
            headers={"Cache-Control": "no-store"},
            background=background,
        )

    async def _deliver(self, notices: tuple[Notice, ...]) -> None:
        try:
            await self.notify(notices)
        except Exception:
            logger.exception("delivering %d notices from the web chat failed", len(notices))


def _sender(device: str) -> Sender:
    return Sender(channel=CHANNEL, user_id=device, chat_id=device)


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no database can store it
        return False
    return True


def _https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def _same_site(request: Request) -> bool:
    """Tell whether the request comes from our own page (Fetch Metadata, else the Origin)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in SAME_SITE
    origin = request.headers.get("origin")
    if origin is None:
        return True  # an old browser; the CSRF token still has to match
    host = request.headers.get("x-forwarded-host") or request.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.split(",")[0].strip().lower()
