"""Publicity pushes to WeChat followers: the campaign sender of the WeChat channel.

A push goes out as a customer-service text (`message/custom/send`) with its 👍有用/退订 buttons as
numbered lines ("1. 👍有用", "2. 退订"), the way every WeChat reply shows buttons; the follower's
typed number comes back through the channel (`Choices`, and the campaign service when this
process did not send the push). WeChat allows customer-service messages only within 48 hours of
the follower's last message and only so many of them: outside that (45015, 45047) the push goes
out as a template message when `[wechat] push_template_id` is set, and is recorded skipped
(with the reason) when it is not.

WeChat's answers map onto the campaign service's errors:

    43004 (not following)                       ChatGone   the villager is marked inactive
    45015 / 45047 without a template            Skipped    recorded skipped, not retried
    -1, 45009, 45011, 5xx, network, timeout     Transient  retried with backoff
    40001 / 42001 (token)                       refreshed once by the client, then Transient
    a refused app id or secret, anything else   Rejected   recorded failed
"""

from __future__ import annotations

import logging

from bot import texts
from bot.channels.wechat.client import (
    API_BUSY,
    API_QUOTA,
    OUTSIDE_WINDOW,
    OVER_LIMIT,
    SYSTEM_BUSY,
    TOKEN_INVALID,
    UNSUBSCRIBED,
    WechatClient,
    WechatError,
    WechatRefused,
    WechatUnavailable,
)
from bot.channels.wechat.render import Choices, render, split_text
from bot.services.campaigns import (
    Buttons,
    ChatGone,
    Rejected,
    SendError,
    SendFunc,
    Skipped,
    Transient,
)
from bot.services.replies import Reply

__all__ = ["TEMPLATE_CONTENT_CHARS", "campaign_error", "template_data", "wechat_sender"]

logger = logging.getLogger(__name__)

TRANSIENT = frozenset({SYSTEM_BUSY, API_QUOTA, API_BUSY})
NO_CUSTOMER_SERVICE = frozenset({OUTSIDE_WINDOW, OVER_LIMIT})
TEMPLATE_CONTENT_CHARS = 200  # a template field holds a short text; the rest is cut with …
SKIP_REASON = {
    OUTSIDE_WINDOW: "WeChat 45015: no message from the follower for 48 hours",
    OVER_LIMIT: "WeChat 45047: customer-service message limit since the follower last wrote",
}


def campaign_error(exc: WechatError) -> SendError:
    """Translate a WeChat API error into the campaign service's error class."""
    if isinstance(exc, WechatUnavailable):
        return Transient(str(exc))
    if isinstance(exc, WechatRefused):
        return Rejected(str(exc))
    if exc.errcode == UNSUBSCRIBED:
        return ChatGone(str(exc))
    if exc.errcode in TRANSIENT or exc.errcode in TOKEN_INVALID:
        return Transient(str(exc))  # a token refused twice in a row: try again a bit later
    return Rejected(str(exc))


def template_data(text: str, *, town: str) -> dict[str, str]:
    """The template message fields of a push: `first` (title), `keyword1` (text), `remark`."""
    body = " ".join(text.split())
    if len(body) > TEMPLATE_CONTENT_CHARS:
        body = body[: TEMPLATE_CONTENT_CHARS - 1] + "…"
    return {
        "first": texts.WECHAT_PUSH_TEMPLATE_TITLE.format(town=town),
        "keyword1": body,
        "remark": texts.WECHAT_PUSH_TEMPLATE_REMARK,
    }


def wechat_sender(
    client: WechatClient, *, choices: Choices, template_id: str = "", town: str = ""
) -> SendFunc:
    """Send pushes to WeChat followers (`chat_id` is the OpenID), raising campaign errors."""

    async def send(openid: str, text: str, buttons: Buttons) -> None:
        rendered = render([Reply(text, buttons)])
        try:
            for chunk in split_text(rendered.text):
                await client.send_text(openid, chunk)
        except WechatError as exc:
            if exc.errcode not in NO_CUSTOMER_SERVICE or isinstance(exc, WechatUnavailable):
                raise campaign_error(exc) from exc
            if not template_id:
                raise Skipped(f"{SKIP_REASON[exc.errcode]}; no [wechat] push_template_id") from exc
            try:
                await client.send_template(openid, template_id, template_data(text, town=town))
            except WechatError as again:
                raise campaign_error(again) from again
            logger.debug("push to %s sent as a template message (%s)", openid, exc.errcode)
            return
        choices.remember(openid, rendered.offer)

    return send
