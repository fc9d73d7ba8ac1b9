"""A local emulator of the WeChat server API on 127.0.0.1, and WeChat's side of a message post.

The emulator serves `/cgi-bin/token`, `/cgi-bin/message/custom/send`,
`/cgi-bin/message/template/send` and `/cgi-bin/menu/create` (Starlette under uvicorn in a thread),
checks the app id, secret and access token, records what was sent, and injects faults per
endpoint: an error code (40001 expired token, 45015 outside the 48-hour window, 45047 over the
limit, ...), a 5xx, or a delay longer than the client waits.

It also keeps WeChat's rules for followers it has been told about (`interact`, `unfollow`): a
customer-service message needs a message from the follower within the last 48 hours (else 45015)
and at most `messages_per_interaction` of them follow one message (else 45047); a follower who
unfollowed gets 43004 from both send calls; a template message needs a known template id (40037).
Time is `clock()` (seconds; inject one so no test depends on the wall clock). Followers it was
never told about are not checked (the older tests post without registering anyone).

The helpers below build the posts WeChat's servers make to the bot's `/wechat` URL, signed, in
plain or safe (AES) mode (encrypted with wechatpy's crypto), and read the passive reply back.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
import xmltodict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from wechatpy.crypto import WeChatCrypto

__all__ = [
    "ACCOUNT",
    "Call",
    "Fault",
    "WechatEmulator",
    "aes_post",
    "event_xml",
    "media_xml",
    "open_reply",
    "plain_post",
    "sign",
    "text_xml",
    "verification_params",
    "voice_xml",
]

ACCOUNT = "gh_0123456789ab"  # the official account's id (ToUserName)
TOKEN_PATH = "token"
SEND_PATH = "message/custom/send"
TEMPLATE_PATH = "message/template/send"
MENU_PATH = "menu/create"
TEMPLATE_ID = "PUSH-TEMPLATE-0123456789"  # the template the emulated account has
WINDOW_SECONDS = 48 * 3600  # customer-service messages only this long after the follower wrote


@dataclass
class Fault:
    """A failure to inject on an endpoint for `times` calls: an error code, a status, a delay."""

    errcode: int = 0
    errmsg: str = ""
    status: int = 200
    delay: float = 0.0  # seconds to hold the answer (a timeout when longer than the client waits)
    times: int = 1


@dataclass
class Call:
    """One request the bot made."""

    path: str
    params: dict[str, str]
    body: dict[str, Any] | None
    ok: bool


@dataclass
class WechatEmulator:
    """The emulated API's state; `start()` serves it on an ephemeral port."""

    app_id: str = "wx0123456789abcdef"
    secret: str = "s3cret-0123456789abcdef0123456789"
    token_seconds: int = 7200
    calls: list[Call] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)  # accepted custom/send bodies
    menus: list[dict[str, Any]] = field(default_factory=list)  # accepted menu/create bodies
    templates: list[dict[str, Any]] = field(default_factory=list)  # accepted template/send bodies
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    template_ids: set[str] = field(default_factory=lambda: {TEMPLATE_ID})
    clock: Callable[[], float] = time.time  # WeChat's time for the 48-hour window
    messages_per_interaction: int = 20  # WeChat allows 20 per message from the follower
    _last_message: dict[str, float] = field(default_factory=dict)  # openid -> when they wrote
    _since_message: dict[str, int] = field(default_factory=dict)  # openid -> messages sent since
    _unfollowed: set[str] = field(default_factory=set)
    _tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    _count: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _port: int = 0

    # --- server ---------------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on 127.0.0.1 and return the base URL (`[wechat] api_base_url`)."""
        app = Starlette(
            routes=[
                Route(f"/cgi-bin/{TOKEN_PATH}", self._token, methods=["GET"]),
                Route(f"/cgi-bin/{SEND_PATH}", self._send, methods=["POST"]),
                Route(f"/cgi-bin/{TEMPLATE_PATH}", self._template, methods=["POST"]),
                Route(f"/cgi-bin/{MENU_PATH}", self._menu, methods=["POST"]),
            ]
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the WeChat API emulator did not start")
            time.sleep(0.01)
        return self.base_url

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    @property
    def base_url(self) -> str:
        """The URL the client is pointed at."""
        return f"http://127.0.0.1:{self._port}"

    # --- faults and state -----------------------------------------------------------------------

    def fail(self, path: str, fault: Fault) -> None:
        """Inject a fault on an endpoint (`token`, `message/custom/send`,
        `message/template/send`, `menu/create`)."""
        with self._lock:
            self.faults.setdefault(path, []).append(fault)

    def expire_tokens(self) -> None:
        """Make every token handed out so far invalid: the next call with one gets 40001."""
        with self._lock:
            self._tokens.clear()

    def interact(self, openid: str, at: float | None = None) -> None:
        """The follower wrote to the account (at `at`, default `clock()`): a new 48-hour window."""
        with self._lock:
            self._last_message[openid] = self.clock() if at is None else at
            self._since_message[openid] = 0
            self._unfollowed.discard(openid)

    def unfollow(self, openid: str) -> None:
        """The follower unfollowed the account: every send to them gets 43004."""
        with self._lock:
            self._unfollowed.add(openid)

    def templates_to(self, openid: str) -> list[dict[str, str]]:
        """The template messages accepted for a follower: their fields' values, in order."""
        with self._lock:
            return [
                {k: v["value"] for k, v in t["data"].items()}
                for t in self.templates
                if t.get("touser") == openid
            ]

    def token_calls(self) -> int:
        """Count the access tokens handed out."""
        return sum(1 for c in self.calls if c.path == TOKEN_PATH and c.ok)

    def texts_to(self, openid: str) -> list[str]:
        """The customer-service texts accepted for a follower, in order."""
        with self._lock:
            return [s["text"]["content"] for s in self.sent if s.get("touser") == openid]

    # --- endpoints ------------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        params = dict(request.query_params)
        fault = await self._fault(TOKEN_PATH, params, None)
        if fault is not None:
            return fault
        if params.get("appid") != self.app_id:
            return self._error(TOKEN_PATH, params, None, 40013, "invalid appid")
        if params.get("secret") != self.secret:
            return self._error(TOKEN_PATH, params, None, 40125, "invalid appsecret")
        token = f"tok{next(self._count)}_{secrets.token_hex(8)}"
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_seconds
            self.calls.append(Call(TOKEN_PATH, params, None, ok=True))
        return JSONResponse({"access_token": token, "expires_in": self.token_seconds})

    async def _send(self, request: Request) -> Response:
        return await self._api(request, SEND_PATH, self.sent, self._customer_service_rule)

    async def _template(self, request: Request) -> Response:
        return await self._api(request, TEMPLATE_PATH, self.templates, self._template_rule)

    def _customer_service_rule(self, body: dict[str, Any]) -> tuple[int, str] | None:
        """WeChat's refusal of a customer-service message (called under the lock), or None."""
        openid = str(body.get("touser") or "")
        if openid in self._unfollowed:
            return 43004, "require subscribe"
        last = self._last_message.get(openid)
        if last is None:
            return None  # a follower the test did not register: not checked
        if self.clock() - last > WINDOW_SECONDS:
            return 45015, "response out of time limit or subscription is canceled"
        if self._since_message.get(openid, 0) >= self.messages_per_interaction:
            return 45047, "out of response count limit"
        self._since_message[openid] = self._since_message.get(openid, 0) + 1
        return None

    def _template_rule(self, body: dict[str, Any]) -> tuple[int, str] | None:
        if str(body.get("template_id") or "") not in self.template_ids:
            return 40037, "invalid template_id"
        if str(body.get("touser") or "") in self._unfollowed:
            return 43004, "require subscribe"
        return None

    async def _menu(self, request: Request) -> Response:
        return await self._api(request, MENU_PATH, self.menus)

    async def _api(
        self,
        request: Request,
        path: str,
        store: list[dict[str, Any]],
        rule: Callable[[dict[str, Any]], tuple[int, str] | None] | None = None,
    ) -> Response:
        params = dict(request.query_params)
        raw = await request.body()
        body = _json(raw)
        fault = await self._fault(path, params, body)
        if fault is not None:
            return fault
        with self._lock:
            expiry = self._tokens.get(params.get("access_token", ""))
        if expiry is None:
            return self._error(path, params, body, 40001, "invalid credential")
        if time.monotonic() > expiry:
            return self._error(path, params, body, 42001, "access_token expired")
        if body is None or b"\\u" in raw:  # WeChat would show escapes literally
            return self._error(path, params, body, 47001, "data format error")
        with self._lock:
            refused = rule(body) if rule is not None else None
            if refused is None:
                store.append(body)
                self.calls.append(Call(path, params, body, ok=True))
        if refused is not None:
            return self._error(path, params, body, *refused)
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def _fault(
        self, path: str, params: dict[str, str], body: dict[str, Any] | None
    ) -> Response | None:
        with self._lock:
            faults = [f for f in self.faults.get(path, []) if f.times > 0]
            fault = faults[0] if faults else None
            if fault is not None:
                fault.times -= 1
        if fault is None:
            return None
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.status >= 500:
            with self._lock:
                self.calls.append(Call(path, params, body, ok=False))
            return Response("Bad Gateway", status_code=fault.status)
        return self._error(path, params, body, fault.errcode, fault.errmsg or "injected")

    def _error(
        self,
        path: str,
        params: dict[str, str],
        body: dict[str, Any] | None,
        errcode: int,
        errmsg: str,
    ) -> Response:
        with self._lock:
            self.calls.append(Call(path, params, body, ok=False))
        return JSONResponse({"errcode": errcode, "errmsg": errmsg})


def _json(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


# --- WeChat's side of a message post ----------------------------------------------------------


def sign(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted parts joined (token, timestamp, nonce[, encrypt])."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def verification_params(token: str, echostr: str) -> dict[str, str]:
    """The query of WeChat's URL check (`GET /wechat`)."""
    timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
    return {
        "signature": sign(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "echostr": echostr,
    }


def _xml(fields: dict[str, Any]) -> str:
    document: str = xmltodict.unparse({"xml": fields}, full_document=False)
    return document


def text_xml(openid: str, content: str, *, msg_id: int, create_time: int | None = None) -> str:
    """A follower's text message."""
    return _xml(
        {
            "ToUserName": ACCOUNT,
            "FromUserName": openid,
            "CreateTime": create_time or int(time.time()),
            "MsgType": "text",
            "Content": content,
            "MsgId": msg_id,
        }
    )


def voice_xml(openid: str, *, msg_id: int, recognition: str | None = None) -> str:
    """A follower's voice note, with WeChat's transcript when recognition is on."""
    fields: dict[str, Any] = {
        "ToUserName": ACCOUNT,
        "FromUserName": openid,
        "CreateTime": int(time.time()),
        "MsgType": "voice",
        "MediaId": f"media{msg_id}",
        "Format": "amr",
        "MsgId": msg_id,
    }
    if recognition is not None:
        fields["Recognition"] = recognition
    return _xml(fields)


def media_xml(openid: str, msg_type: str, *, msg_id: int) -> str:
    """A follower's image, video, location... (only the common fields)."""
    return _xml(
        {
            "ToUserName": ACCOUNT,
            "FromUserName": openid,
            "CreateTime": int(time.time()),
            "MsgType": msg_type,
            "MediaId": f"media{msg_id}",
            "MsgId": msg_id,
        }
    )


def event_xml(openid: str, event: str, key: str = "", *, create_time: int | None = None) -> str:
    """An event: `subscribe` (key `qrscene_<scene>` from a QR code), `SCAN`, `CLICK`, ..."""
    fields: dict[str, Any] = {
        "ToUserName": ACCOUNT,
        "FromUserName": openid,
        "CreateTime": create_time or int(time.time()),
        "MsgType": "event",
        "Event": event,
    }
    if key:
        fields["EventKey"] = key
    return _xml(fields)


def plain_post(token: str, xml: str, *, openid: str = "") -> tuple[dict[str, str], str]:
    """The query and body of a plain-mode post, signed as WeChat signs it."""
    timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
    params = {"signature": sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    if openid:
        params["openid"] = openid
    return params, xml


def aes_post(
    token: str, aes_key: str, app_id: str, xml: str, *, openid: str = ""
) -> tuple[dict[str, str], str]:
    """The query and body of a safe-mode post: the XML encrypted, both signatures set."""
    timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
    envelope = WeChatCrypto(token, aes_key, app_id).encrypt_message(xml, nonce, timestamp)
    fields = xmltodict.parse(envelope)["xml"]
    body = _xml({"ToUserName": ACCOUNT, "Encrypt": fields["Encrypt"]})
    params = {
        "signature": sign(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": fields["MsgSignature"],
    }
    if openid:
        params["openid"] = openid
    return params, body


def open_reply(
    body: str, *, token: str = "", aes_key: str = "", app_id: str = ""
) -> dict[str, Any] | None:
    """Read a passive reply's fields (decrypting a safe-mode one); None for an empty answer."""
    if not body.strip() or body.strip() == "success":
        return None
    fields: dict[str, Any] = xmltodict.parse(body)["xml"]
    if "Encrypt" in fields:
        crypto = WeChatCrypto(token, aes_key, app_id)
        plain = crypto.decrypt_message(
            body, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"]
        )
        fields = xmltodict.parse(plain)["xml"]
    return fields
