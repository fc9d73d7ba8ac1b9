"""Customer-service messages to WeChat followers: late replies and advisors' answers.

A follower who has not written for 48 hours cannot be messaged (45015): an advisor's answer then
stays undelivered and reaches the villager with their next message. Over the per-follower limit
(45047) the message is tried again later; network errors and 5xx are retried with backoff, then
left undelivered (the client logs the cause once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from starlette.concurrency import run_in_threadpool

from bot.channels.wechat.client import (
    OUTSIDE_WINDOW,
    OVER_LIMIT,
    WechatClient,
    WechatError,
    WechatRefused,
    WechatUnavailable,
)
from bot.channels.wechat.render import Choices, render, split_text
from bot.services.container import Services
from bot.services.outcomes import Notice
from storage.models import EscalationTurn

__all__ = ["CHANNEL", "Delivery", "WechatNotifier"]

logger = logging.getLogger(__name__)

CHANNEL = "wechat"


class Delivery(StrEnum):
    """What became of a customer-service message."""

    SENT = "sent"
    OUTSIDE_WINDOW = "outside_window"  # 45015: kept for the follower's next message
    OVER_LIMIT = "over_limit"  # 45047: try again later
    FAILED = "failed"  # unreachable, refused or another error: left undelivered


@dataclass
class WechatNotifier:
    """Deliver `Notice`s for WeChat followers (`channel == "wechat"`) as customer-service texts."""

    services: Services
    client: WechatClient | None
    choices: Choices = field(default_factory=Choices)
    backoff: tuple[float, ...] = (0.5, 2.0, 5.0)  # seconds between tries on network errors/5xx
    later_seconds: float = 60.0  # wait after 45047 before trying again
    later_tries: int = 3
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    _warned_no_client: bool = field(default=False, repr=False)

    async def deliver(self, notices: Sequence[Notice]) -> None:
        """Send the notices meant for WeChat followers; others are not this channel's."""
        for notice in notices:
            if notice.channel == CHANNEL:
                await self._deliver(notice, self.later_tries)

    async def send(self, openid: str, text: str) -> Delivery:
        """Send a text (cut into messages of ≤ 2048 bytes), retrying network errors."""
        if self.client is None:
            if not self._warned_no_client:
                logger.error(
                    "WeChat customer-service messages are off: set LAWBOT_WECHAT_SECRET and "
                    "[wechat] app_id (late replies and advisors' answers wait for the next message)"
                )
                self._warned_no_client = True
            return Delivery.FAILED
        for chunk in split_text(text):
            result = await self._send_chunk(self.client, openid, chunk)
            if result is not Delivery.SENT:
                return result
        return Delivery.SENT

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background, keeping a reference until it ends."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Cancel the deliveries still waiting to be retried."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- internals ------------------------------------------------------------------------------

    async def _deliver(self, notice: Notice, tries_left: int) -> None:
        if notice.turn_id is not None and not await run_in_threadpool(
            self._undelivered, notice.turn_id
        ):
            return  # it reached the villager with their own message in the meantime
        rendered = render([notice.reply])
        result = await self.send(notice.user_id, rendered.text)
        if result is Delivery.SENT:
            self.choices.remember(notice.user_id, rendered.offer)
            if notice.turn_id is not None:
                await run_in_threadpool(
                    self.services.consultation.escalations.mark_delivered, notice.turn_id
                )
        elif result is Delivery.OUTSIDE_WINDOW:
            logger.info(
                "WeChat follower %s outside the 48-hour window: answer %s kept for their next "
                "message",
                notice.user_id,
                notice.turn_id,
            )
        elif result is Delivery.OVER_LIMIT and tries_left > 0:
            logger.info(
                "WeChat follower %s over the message limit: retrying later", notice.user_id
            )
            self.spawn(self._later(notice, tries_left - 1))

    async def _later(self, notice: Notice, tries_left: int) -> None:
        await asyncio.sleep(self.later_seconds)
        await self._deliver(notice, tries_left)

    async def _send_chunk(self, client: WechatClient, openid: str, chunk: str) -> Delivery:
        for delay in (*self.backoff, None):
            try:
                await client.send_text(openid, chunk)
            except WechatUnavailable:
                if delay is None:
                    return Delivery.FAILED
                await asyncio.sleep(delay)
                continue
            except WechatRefused:
                return Delivery.FAILED
            except WechatError as exc:
                if exc.errcode == OUTSIDE_WINDOW:
                    return Delivery.OUTSIDE_WINDOW
                if exc.errcode == OVER_LIMIT:
                    return Delivery.OVER_LIMIT
                logger.warning("WeChat message to %s refused: %s", openid, exc)
                return Delivery.FAILED
            return Delivery.SENT
        return Delivery.FAILED

    def _undelivered(self, turn_id: int) -> bool:
        with self.services.consultation.db.session() as session:
            turn = session.get(EscalationTurn, turn_id)
            return turn is not None and turn.delivered_at is None
