"""A small Telegram Bot API emulator on 127.0.0.1 for driving the real PTB Application.

Speaks the wire format (form-encoded or JSON parameters, `{"ok": ..., "result": ...}`), keeps a
queue of updates for getUpdates with offsets and long-polling, records every call, can post
updates to a webhook instead, and injects faults per method: 429 with retry_after, 403, 400,
5xx, connection resets and timeouts (a response held back longer than the client waits), also
at random with a seed (`chaos`). `redeliver` hands out an update again, as Telegram does for an
update whose offset was not confirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

BOT_ID = 777000
BOT_USERNAME = "village_law_bot"


@dataclass
class Fault:
    """A failure to inject: HTTP status and Bot API error, for `times` calls (or at random)."""

    status: int
    description: str
    retry_after: int | None = None
    times: int = 1
    probability: float = 1.0
    delay: float = 0.0  # seconds to hold the response (timeouts)
    chat_id: str | None = None  # only calls to this chat (None: any)
    reset: bool = False  # close the connection without an answer (connection reset)


RESET = 0  # Fault.status of a connection reset (no HTTP answer at all)


def chaos_faults(rate: float, *, times: int = 1_000_000) -> list[Fault]:
    """A seeded mix of transient faults, each at `rate` per call: 429, 500, 502, reset, timeout.

    Only faults after which nothing was delivered: a client that retries them sends once.
    """
    return [
        Fault(
            429, "Too Many Requests: retry after 1", retry_after=1, probability=rate, times=times
        ),
        Fault(500, "Internal Server Error", probability=rate, times=times),
        Fault(502, "Bad Gateway", probability=rate, times=times),
        Fault(RESET, "connection reset", reset=True, probability=rate, times=times),
        Fault(504, "Gateway Timeout", delay=0.3, probability=rate, times=times),
    ]


@dataclass
class Call:
    """One Bot API request the bot made."""

    method: str
    params: dict[str, Any]
    at: float
    ok: bool
    result: Any = None


@dataclass
class Emulator:
    """The emulator's state; `start()` serves it on an ephemeral port."""

    seed: int = 0
    updates: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    webhook_url: str | None = None
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _confirmed: int = 0
    handed_out: dict[int, dict[str, Any]] = field(default_factory=dict)  # by update_id
    _server: ThreadingHTTPServer | None = None
    _random: random.Random = field(init=False)

    first_update_id: int = 1  # start elsewhere to share a database with earlier runs

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        if self.first_update_id != 1:
            self._update_ids = itertools.count(self.first_update_id)

    # --- server ---------------------------------------------------------------------------
    def start(self) -> str:
        """Serve on 127.0.0.1 and return the base URL for ApplicationBuilder().base_url()."""
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm
            # and the client's delayed ACK add ~40 ms to every answer
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                emulator._serve(self)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002 (the base class signature)
                return

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: ARG002 (the base class signature)
                return  # a client that hung up (or a reset we injected) is not news

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/bot"

    def stop(self) -> None:
        """Stop serving."""
        with self._lock:
            self._lock.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/bot"

    # --- faults ---------------------------------------------------------------------------
    def fail(self, method: str, fault: Fault) -> None:
        """Inject a fault on a method (`*` for every method)."""
        with self._lock:
            self.faults.setdefault(method, []).append(fault)

    def _fault_for(self, method: str, params: dict[str, Any]) -> Fault | None:
        with self._lock:
            for key in (method, "*"):
                for fault in self.faults.get(key, []):
                    if fault.chat_id is not None and str(params.get("chat_id")) != fault.chat_id:
                        continue
                    if fault.times > 0 and self._random.random() < fault.probability:
                        fault.times -= 1
                        return fault
        return None

    def chaos(self, method: str, rate: float, *, times: int = 1_000_000) -> None:
        """Inject the seeded mix of `chaos_faults` on a method (`*` for every method)."""
        for fault in chaos_faults(rate, times=times):
            self.fail(method, fault)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self._lock:
            self.faults.clear()

    def injected(self) -> dict[str, int]:
        """Count the faulty answers given, by method."""
        with self._lock:
            counts: dict[str, int] = {}
            for call in self.calls:
                if not call.ok:
                    counts[call.method] = counts.get(call.method, 0) + 1
            return counts

    def redeliver(self, update_id: int) -> bool:
        """Queue an update handed out before again (as Telegram does for unconfirmed ones)."""
        with self._lock:
            found = self.handed_out.get(update_id)
            if found is None or any(u["update_id"] == update_id for u in self.updates):
                return False
            self.updates.append(found)
            self.updates.sort(key=lambda u: int(u["update_id"]))
            self._lock.notify_all()
            return True

    # --- updates --------------------------------------------------------------------------
    def _user(self, user_id: int, first_name: str = "村民") -> dict[str, Any]:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": "zh-hans",
        }

    def _chat(self, chat_id: int, chat_type: str) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type != "private":
            chat["title"] = "曹溪镇群"
        return chat

    def message(
        self,
        user_id: int,
        text: str | None = None,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        **extra: Any,
    ) -> dict[str, Any]:
        """Build a Message object from a user."""
        msg: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_id or user_id, chat_type),
            "from": self._user(user_id),
        }
        if text is not None:
            msg["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        msg.update(extra)
        return msg

    def push(self, kind: str, payload: dict[str, Any]) -> int:
        """Queue an update (or post it to the webhook) and return its update_id."""
        update_id = next(self._update_ids)
        update = {"update_id": update_id, kind: payload}
        if self.webhook_url:
            body = json.dumps(update).encode()
            request = urllib.request.Request(
                self.webhook_url, data=body, headers={"Content-Type": "application/json"}
            )
            threading.Thread(
                target=lambda: urllib.request.urlopen(request, timeout=10).read(), daemon=True
            ).start()
            return update_id
        with self._lock:
            self.updates.append(update)
            self._lock.notify_all()
        return update_id

    def send_text(self, user_id: int, text: str, **kw: Any) -> int:
        """A user sends a text message."""
        return self.push("message", self.message(user_id, text, **kw))

    def edit_text(self, user_id: int, message_id: int, text: str) -> int:
        """A user edits an earlier message."""
        msg = self.message(user_id, text)
        msg["message_id"] = message_id
        msg["edit_date"] = int(time.time())
        return self.push("edited_message", msg)

    def press(self, user_id: int, data: str, *, message_id: int = 1) -> int:
        """A user presses an inline button."""
        query = {
            "id": str(next(self._update_ids) * 1000),
            "from": self._user(user_id),
            "chat_instance": "ci",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": self._chat(user_id, "private"),
                "from": {
                    "id": BOT_ID,
                    "is_bot": True,
                    "first_name": "法律助手",
                    "username": BOT_USERNAME,
                },
                "text": "…",
            },
        }
        return self.push("callback_query", query)

    # --- inspection -----------------------------------------------------------------------
    def sent(
        self, method: str = "sendMessage", chat_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Return the parameters of successful calls of a method (to one chat)."""
        with self._lock:
            return [
                c.params
                for c in self.calls
                if c.method == method
                and c.ok
                and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
            ]

    def messages_to(self, chat_id: int) -> list[dict[str, Any]]:
        """Return the Message objects the bot sent to a chat, in order."""
        with self._lock:
            return [
                c.result
                for c in self.calls
                if c.method == "sendMessage"
                and c.ok
                and str(c.params.get("chat_id")) == str(chat_id)
            ]

    def reply_to(self, user_id: int, message: dict[str, Any], text: str) -> int:
        """A user answers a bot message with Telegram's reply."""
        return self.push("message", self.message(user_id, text, reply_to_message=message))

    def texts_to(self, chat_id: int) -> list[str]:
        """Return the texts sent to a chat, in order."""
        return [str(p.get("text", "")) for p in self.sent("sendMessage", chat_id)]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        """Wait until predicate() holds, or fail after `within` seconds."""
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("emulator: condition not met in time")
            await asyncio.sleep(0.01)

    @property
    def confirmed_offset(self) -> int:
        """The highest offset the bot has confirmed (updates below it are acknowledged)."""
        return self._confirmed

    # --- request handling -----------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        method = path.rsplit("/", 1)[-1]
        params = self._params(handler)
        fault = self._fault_for(method, params)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.reset:
                self._record(method, params, ok=False)
                with contextlib.suppress(OSError):
                    handler.connection.shutdown(2)  # SHUT_RDWR: the client sees a reset
                handler.close_connection = True
                return None
            body: dict[str, Any] = {
                "ok": False,
                "error_code": fault.status,
                "description": fault.description,
            }
            if fault.retry_after is not None:
                body["parameters"] = {"retry_after": fault.retry_after}
            self._record(method, params, ok=False)
            return self._reply(handler, fault.status, body)
        result = self._dispatch(method, params)
        if result is None:
            self._record(method, params, ok=False)
            return self._reply(
                handler,
                400,
                {
                    "ok": False,
                    "error_code": 400,
                    "description": f"Bad Request: unknown method {method}",
                },
            )
        self._record(method, params, ok=True, result=result)
        self._reply(handler, 200, {"ok": True, "result": result})

    def _record(
        self, method: str, params: dict[str, Any], *, ok: bool, result: Any = None
    ) -> None:
        with self._lock:
            self.calls.append(Call(method, params, time.monotonic(), ok, result))

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def _params(handler: BaseHTTPRequestHandler) -> dict[str, Any]:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        ctype = handler.headers.get("Content-Type", "")
        fields: dict[str, Any] = {}
        if ctype.startswith("application/json") and raw:
            fields = json.loads(raw)
        elif ctype.startswith("multipart/form-data"):
            message = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw
            )
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                filename = part.get_filename()
                raw_payload = part.get_payload(decode=True)
                payload = raw_payload if isinstance(raw_payload, bytes) else b""
                fields[str(name)] = (
                    {"filename": filename, "size": len(payload), "content": payload}
                    if filename
                    else payload.decode()
                )
        else:
            fields = dict(parse_qsl(raw.decode()))
        for key, value in list(fields.items()):
            if isinstance(value, str) and value[:1] in "[{":
                with contextlib.suppress(ValueError):
                    fields[key] = json.loads(value)
        return fields

    def _dispatch(self, method: str, params: dict[str, Any]) -> Any:
        bot = {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "法律助手",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        if method == "getMe":
            return bot
        if method in (
            "deleteWebhook",
            "setMyCommands",
            "answerCallbackQuery",
            "deleteMyCommands",
            "setChatMenuButton",
        ):
            if method == "deleteWebhook":
                self.webhook_url = None
            return True
        if method == "setWebhook":
            self.webhook_url = str(params.get("url"))
            return True
        if method == "getUpdates":
            return self._get_updates(params)
        if method in ("sendMessage", "sendDocument", "sendPhoto"):
            chat_id = int(params.get("chat_id", 0))
            message: dict[str, Any] = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
                "from": bot,
            }
            if "text" in params:
                message["text"] = params["text"]
            if method == "sendDocument":
                message["document"] = {
                    "file_id": "f1",
                    "file_unique_id": "u1",
                    "file_name": "ledger.xlsx",
                }
            return message
        if method == "editMessageText":
            return {
                "message_id": int(params.get("message_id", 1)),
                "date": int(time.time()),
                "chat": {"id": int(params.get("chat_id", 0)), "type": "private"},
                "text": params.get("text", ""),
            }
        if method == "editMessageReplyMarkup":
            return True
        return None

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + min(timeout, 5.0)
        with self._lock:
            if offset:
                self._confirmed = max(self._confirmed, offset)
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates and time.monotonic() < deadline:
                self._lock.wait(timeout=deadline - time.monotonic())
            batch = list(self.updates[:limit])
            for update in batch:
                self.handed_out[int(update["update_id"])] = update
            return batch
