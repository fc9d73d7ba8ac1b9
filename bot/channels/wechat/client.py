"""A small async client for the WeChat server API: access token, customer-service messages, menu.

Exceptions:

    WechatError             the API answered with an error code (`errcode`, `errmsg`)
    ├── WechatRefused       the app id or secret is wrong, or this server's IP is not allowed
    └── WechatUnavailable   network error, timeout or 5xx: nothing was delivered, retry later
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

__all__ = [
    "API_BUSY",
    "API_QUOTA",
    "OUTSIDE_WINDOW",
    "OVER_LIMIT",
    "SYSTEM_BUSY",
    "UNSUBSCRIBED",
    "WechatClient",
    "WechatError",
    "WechatRefused",
    "WechatUnavailable",
]

logger = logging.getLogger(__name__)

OUTSIDE_WINDOW = 45015  # the follower has not written for 48 hours: no customer-service message
OVER_LIMIT = 45047  # too many customer-service messages since the follower last wrote
UNSUBSCRIBED = 43004  # the user does not follow the account (any more)
API_QUOTA = 45009  # the API's call quota is used up for now
API_BUSY = 45011  # API calls too frequent
SYSTEM_BUSY = -1  # WeChat's "system busy, try again"
TOKEN_INVALID = frozenset({40001, 40014, 42001})  # invalid, malformed or expired access_token
# Codes of the token call that mean the credentials (or the server's IP) are not accepted.
CREDENTIALS_REFUSED = frozenset({40001, 40002, 40013, 40125, 40164, 41002, 41004, 61004})
TOKEN_MARGIN = 300.0  # refresh this many seconds before WeChat says the token expires


class WechatError(Exception):
    """The WeChat API answered with an error code."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WechatRefused(WechatError):
    """The app id or secret is wrong, or this server's IP is not on the account's allow list."""


class WechatUnavailable(WechatError):
    """The API could not be reached or failed (network, timeout, 5xx); nothing was delivered."""


class WechatClient:
    """The calls the bot makes to the WeChat server API, with a cached access token."""

    def __init__(
        self,
        *,
        app_id: str,
        secret: str,
        base_url: str = "https://api.weixin.qq.com",
        timeout: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app_id = app_id
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)
        self._monotonic = monotonic
        self._token: str | None = None
        self._token_until = 0.0
        self._last_problem = ""
        self._token_lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    # --- the API --------------------------------------------------------------------------------

    async def send_text(self, openid: str, content: str) -> None:
        """Send a customer-service text message to a follower (`message/custom/send`)."""
        payload = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        await self._call("message/custom/send", payload)

    async def send_template(
        self, openid: str, template_id: str, data: dict[str, str], *, url: str = ""
    ) -> None:
        """Send a template message (`message/template/send`): no 48-hour window applies."""
        payload: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {name: {"value": value} for name, value in data.items()},
        }
        if url:
            payload["url"] = url
        await self._call("message/template/send", payload)

    async def create_menu(self, menu: dict[str, Any]) -> None:
        """Replace the account's custom menu (`menu/create`)."""
        await self._call("menu/create", menu)

    async def access_token(self) -> str:
        """Return the cached access token, fetching a new one when it is (nearly) expired."""
        async with self._token_lock:  # one refresh at a time: a new token retires the old one
            if self._token is not None and self._monotonic() < self._token_until:
                return self._token
            return await self._fetch_token()

    async def _fetch_token(self) -> str:
        params = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
        data = await self._request("GET", "/cgi-bin/token", params=params)
        code = int(data.get("errcode") or 0)
        if code or not data.get("access_token"):
            message = str(data.get("errmsg", "no access_token"))
            if code in CREDENTIALS_REFUSED:
                self._problem(
                    "WeChat API %s refused app_id %s with this LAWBOT_WECHAT_SECRET "
                    "(or this server's IP is not allowed): %s %s",
                    self.base_url,
                    self.app_id,
                    code,
                    message,
                )
                raise WechatRefused(code, message)
            raise WechatError(code, message)
        self._last_problem = ""
        self._token = str(data["access_token"])
        lifetime = float(data.get("expires_in") or 7200)
        self._token_until = self._monotonic() + max(lifetime - TOKEN_MARGIN, lifetime / 2)
        return self._token

    def forget_token(self) -> None:
        """Drop the cached token (WeChat said it is invalid or expired)."""
        self._token = None

    # --- internals ------------------------------------------------------------------------------

    async def _call(self, path: str, payload: dict[str, Any]) -> None:
        for attempt in (1, 2):
            token = await self.access_token()
            data = await self._request(
                "POST", f"/cgi-bin/{path}", params={"access_token": token}, payload=payload
            )
            code = int(data.get("errcode") or 0)
            if code == 0:
                self._last_problem = ""
                return
            if code in TOKEN_INVALID and attempt == 1:
                logger.info("WeChat access token refused (%s): fetching a new one", code)
                self.forget_token()
                continue
            raise WechatError(code, str(data.get("errmsg", "")))

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str],
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        # WeChat shows \u escapes literally: the body must be raw UTF-8.
        body = None if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"} if body else None
        try:
            response = await self._http.request(
                method, path, params=params, content=body, headers=headers
            )
        except httpx.TransportError as exc:
            self._problem("WeChat API %s unreachable: %r", self.base_url, exc)
            raise WechatUnavailable(-1, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            self._problem("WeChat API %s failed: HTTP %s", self.base_url, response.status_code)
            raise WechatUnavailable(-1, f"HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self._problem(
                "WeChat API %s answered HTTP %s without JSON", self.base_url, response.status_code
            )
            raise WechatUnavailable(-1, f"HTTP {response.status_code} without JSON")
        return data

    def _problem(self, message: str, *args: object) -> None:
        """Log a failure once (not on every retry), until a call succeeds again."""
        line = message % args
        if line != self._last_problem:
            logger.error("%s", line)
        self._last_problem = line
