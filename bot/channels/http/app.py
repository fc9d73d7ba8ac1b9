"""The HTTP JSON API channel: villagers' messages and button presses from a web front or partner
system, through the same services as Telegram and the console.

Each request is authenticated by an API key, limited per key and per user, validated in full
before anything is stored, and answered from one worker-thread call into the services (the event
loop never waits on the database). A `message_id` makes a message exactly-once: the reply body is
stored under the update key and returned again for a repeated id. Notices for others (advisor
cards) go to the `notify` callback after the response is sent.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Lifespan

from bot.channels.http.conversation import Conversation, DuplicateMessage, Turn, dumps, reply_json
from bot.channels.http.errors import ApiError, error_response
from bot.channels.http.keys import ApiKeys
from bot.channels.http.limits import SlidingWindow
from bot.channels.http.openapi import openapi_document
from bot.channels.http.sse import StreamSettings, event_stream, stream_response
from bot.config import Http
from bot.services.container import Services
from bot.services.outcomes import Notice, Sender

__all__ = ["CHANNEL", "Notify", "build_http_app", "log_notices"]

logger = logging.getLogger(__name__)

CHANNEL = "http"
PREFIX = "/api/v1"
USER_PATTERN = r"^[A-Za-z0-9._~@+=-]{1,40}$"
MESSAGE_ID_PATTERN = r"^[\x21-\x7e]{1,40}$"  # printable ASCII, no spaces
_USER = re.compile(USER_PATTERN)
_MESSAGE_ID = re.compile(MESSAGE_ID_PATTERN)
ACTION_MAX_CHARS = 256
BODY_OVERHEAD = 16 * 1024  # bytes of JSON around the text (which may be \u-escaped: 12 bytes/char)
PRUNE_EVERY = timedelta(minutes=10)
DB_RETRY_AFTER = "5"

Notify = Callable[[tuple[Notice, ...]], Awaitable[None]]


async def log_notices(notices: tuple[Notice, ...]) -> None:
    """The default notifier: say which notices this process cannot deliver (no messenger)."""
    for notice in notices:
        logger.warning(
            "notice for %s user %s (escalation %s) not delivered by the HTTP channel; "
            "advisors still see it in /queue (set LAWBOT_TOKEN for `lawbot serve` to send it)",
            notice.channel,
            notice.user_id,
            notice.escalation_id,
        )


def build_http_app(
    services: Services,
    *,
    settings: Http | None = None,
    keys: ApiKeys | None = None,
    notify: Notify | None = None,
    lifespan: Lifespan[Starlette] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    extra_routes: Sequence[BaseRoute] = (),
    stream: StreamSettings | None = None,
) -> Starlette:
    """Build the Starlette app of the HTTP API over `services` (settings from `[http]`).

    `extra_routes` (routes or mounts of other channels, e.g. the web chat) are served by the same
    app, after the API's own; `stream` tunes the SSE endpoint's polling.
    """
    settings = settings or services.config.http
    api = _Api(
        services=services,
        settings=settings,
        conversation=Conversation(services, settings.idempotency_hours),
        stream=stream or StreamSettings(),
        keys=keys
        or ApiKeys(services.consultation.db, clock=lambda: services.consultation.clock()),
        notify=notify or log_notices,
        user_limit=SlidingWindow(settings.user_requests_per_minute, clock=monotonic),
        key_limit=SlidingWindow(settings.key_requests_per_minute, clock=monotonic),
    )
    routes = [
        Route(f"{PREFIX}/messages", api.messages, methods=["POST"]),
        Route(f"{PREFIX}/actions", api.actions, methods=["POST"]),
        Route(f"{PREFIX}/users/{{user}}/messages", api.inbox, methods=["GET"]),
        Route(f"{PREFIX}/users/{{user}}/stream", api.events, methods=["GET"]),
        Route(f"{PREFIX}/openapi.json", api.openapi, methods=["GET"]),
        Route(f"{PREFIX}/health", api.health, methods=["GET"]),
        *extra_routes,
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        ApiError: _api_error,
        HTTPException: _http_error,
        OperationalError: _database_down,
        InterfaceError: _database_down,
        PoolTimeout: _database_down,
        Exception: _internal_error,
    }
    return Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)


# --- error handlers -----------------------------------------------------------------------------


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_json")
    return error_response(exc.status_code, code, headers=dict(exc.headers or {}))


async def _database_down(request: Request, exc: Exception) -> Response:
    logger.error(
        "database unavailable on %s: %s", request.url.path, (str(exc).splitlines() or [""])[0]
    )
    return error_response(503, "database_unavailable", headers={"Retry-After": DB_RETRY_AFTER})


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises the exception after this response, so the server logs the traceback.
    logger.error("internal error on %s: %r", request.url.path, exc)
    return error_response(500, "internal_error")


# --- request parsing ----------------------------------------------------------------------------


def _invalid(name: str, detail: str) -> ApiError:
    return ApiError(422, "invalid_field", field=name, detail=detail)


def _string(data: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise _invalid(name, "必填")
        return None
    if not isinstance(value, str):
        raise _invalid(name, "应为字符串")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (`"\ud800"`): no database can store it
        raise _invalid(name, "含有无效的 Unicode 字符") from None
    return value


def _user(value: str | None, name: str = "user") -> str:
    if value is None or not _USER.fullmatch(value):
        raise _invalid(
            name, "应为 1–40 个字母、数字或 . _ ~ @ + = -（请用不透明的 id，不要用手机号）"
        )
    return value


def _json(
    content: str, *, replay: bool = False, notices: Sequence[Notice] = (), api: _Api
) -> Response:
    headers = {"Idempotent-Replay": "true"} if replay else None
    background = BackgroundTask(api.deliver, tuple(notices)) if notices else None
    return Response(content, media_type="application/json", headers=headers, background=background)


# --- the API ------------------------------------------------------------------------------------


@dataclass
class _Api:
    services: Services
    settings: Http
    conversation: Conversation
    stream: StreamSettings
    keys: ApiKeys
    notify: Notify
    user_limit: SlidingWindow
    key_limit: SlidingWindow

    # --- endpoints ------------------------------------------------------------------------------

    async def messages(self, request: Request) -> Response:
        """POST /messages: a villager's message → the replies (exactly once per message_id)."""
        key_name = await self._authenticate(request)
        data = await self._body(request)
        user = _user(_string(data, "user", required=True))
        text = _string(data, "text", required=True)
        assert text is not None
        if not text.strip():
            raise _invalid("text", "不能为空")
        if len(text) > self.settings.max_text_chars:
            raise ApiError(413, "text_too_long", limit=self.settings.max_text_chars)
        village = _string(data, "village", required=False)
        if village is not None:
            code = village.strip().lower()
            if self.services.config.village(code) is None:
                raise ApiError(400, "unknown_village", village=village[:32])
            village = code
        message_id = _string(data, "message_id", required=False)
        if message_id is not None and not _MESSAGE_ID.fullmatch(message_id):
            raise _invalid("message_id", "应为 1–40 个可见 ASCII 字符（不含空格）")
        self._limit_user(key_name, user)
        sender = self._sender(key_name, user)
        update_key = f"{CHANNEL}:{key_name}:{message_id}" if message_id is not None else None
        turn = await run_in_threadpool(self._converse, sender, text, village, update_key)
        return _json(turn.body, replay=turn.replay, notices=turn.notices, api=self)

    async def actions(self, request: Request) -> Response:
        """POST /actions: a button the villager chose → the replies."""
        key_name = await self._authenticate(request)
        data = await self._body(request)
        user = _user(_string(data, "user", required=True))
        action = _string(data, "action", required=True)
        assert action is not None
        if not action.strip():
            raise _invalid("action", "不能为空")
        if len(action) > ACTION_MAX_CHARS:
            raise _invalid("action", f"最多 {ACTION_MAX_CHARS} 个字符")
        self._limit_user(key_name, user)
        sender = self._sender(key_name, user)
        turn = await run_in_threadpool(self.conversation.act, sender, action)
        return _json(turn.body, notices=turn.notices, api=self)

    async def inbox(self, request: Request) -> Response:
        """GET /users/{user}/messages: replies that arrived later (advisor answers, held messages)."""
        key_name = await self._authenticate(request)
        user = _user(request.path_params.get("user"))
        self._limit_user(key_name, user)
        sender = self._sender(key_name, user)
        replies, notices = await run_in_threadpool(self.conversation.later, sender)
        body = dumps({"replies": [reply_json(r) for r in replies]})
        return _json(body, notices=notices, api=self)

    async def events(self, request: Request) -> Response:
        """GET /users/{user}/stream: the same later replies as Server-Sent Events, as they come."""
        key_name = await self._authenticate(request)
        user = _user(request.path_params.get("user"))
        self._limit_user(key_name, user)
        sender = self._sender(key_name, user)
        events = event_stream(
            request, lambda: self.conversation.later(sender), self.deliver, self.stream
        )
        return stream_response(events)

    async def openapi(self, _request: Request) -> Response:
        """GET /openapi.json: the OpenAPI 3 description of this API (no key needed)."""
        return JSONResponse(openapi_document(self.settings))

    async def health(self, _request: Request) -> Response:
        """GET /health: 200 when the database answers, else 503 (no key needed)."""
        await run_in_threadpool(self.services.consultation.db.ping)
        return JSONResponse({"status": "ok"})

    # --- checks ---------------------------------------------------------------------------------

    async def _authenticate(self, request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        name = None
        if scheme.lower() == "bearer" and token.strip():
            name = await run_in_threadpool(self.keys.authenticate, token)
        if name is None:
            raise ApiError(401, "unauthorized", headers={"WWW-Authenticate": "Bearer"})
        wait = self.key_limit.hit(name)
        if wait is not None:
            raise ApiError(429, "rate_limited", headers={"Retry-After": str(wait)}, seconds=wait)
        return name

    def _limit_user(self, key_name: str, user: str) -> None:
        wait = self.user_limit.hit(f"{key_name}:{user}")
        if wait is not None:
            raise ApiError(429, "rate_limited", headers={"Retry-After": str(wait)}, seconds=wait)

    async def _body(self, request: Request) -> dict[str, Any]:
        limit = BODY_OVERHEAD + 12 * self.settings.max_text_chars
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ApiError(413, "body_too_large")
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > limit:
                raise ApiError(413, "body_too_large")
        try:
            data = json.loads(bytes(raw))
        except (ValueError, RecursionError):
            raise ApiError(400, "bad_json") from None
        if not isinstance(data, dict):
            raise ApiError(400, "bad_json")
        return data

    @staticmethod
    def _sender(key_name: str, user: str) -> Sender:
        user_id = f"{key_name}:{user}"
        return Sender(channel=CHANNEL, user_id=user_id, chat_id=user_id)

    # --- service calls (in a worker thread) -----------------------------------------------------

    def _converse(
        self, sender: Sender, text: str, village: str | None, update_key: str | None
    ) -> Turn:
        try:
            turn = self.conversation.converse(sender, text, village, update_key)
        except DuplicateMessage:
            raise ApiError(409, "duplicate_message") from None
        if update_key is not None and not turn.replay:
            self.conversation.prune(every=PRUNE_EVERY)
        return turn

    # --- notices --------------------------------------------------------------------------------

    async def deliver(self, notices: tuple[Notice, ...]) -> None:
        """Hand notices to the notifier after the response went out; a failure is logged."""
        try:
            await self.notify(notices)
        except Exception:
            logger.exception("delivering %d notices from the HTTP channel failed", len(notices))
