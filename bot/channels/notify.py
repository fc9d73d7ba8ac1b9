"""Deliver notices (advisor cards, reminders, alerts, advisor answers) on each one's channel.

A process that serves several channels hands every notice to one `NoticeRouter`: Telegram notices
go to the Telegram bot, WeChat ones to the WeChat customer-service API, and so on. Channels whose
users fetch their messages (console, HTTP API, web chat) need nothing pushed: advisor answers wait
in the database until the villager's inbox, stream or next message picks them up. Copies (e-mail)
see every notice and keep those addressed to someone they can reach.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from bot.channels import metrics
from bot.services.outcomes import Notice

__all__ = ["PULLED_CHANNELS", "Deliver", "NoticeRouter"]

logger = logging.getLogger(__name__)

Deliver = Callable[[tuple[Notice, ...]], Awaitable[None]]
PULLED_CHANNELS = frozenset({"console", "http", "web"})


class NoticeRouter:
    """Split notices by channel and hand each group to its deliverer; copies get them all."""

    def __init__(self, by_channel: Mapping[str, Deliver], copies: Sequence[Deliver] = ()) -> None:
        self.by_channel = dict(by_channel)
        self.copies = tuple(copies)
        self._warned: set[str] = set()

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels this router can push to."""
        return tuple(self.by_channel)

    async def __call__(self, notices: tuple[Notice, ...]) -> None:
        groups: dict[str, list[Notice]] = {}
        for notice in notices:
            groups.setdefault(notice.channel, []).append(notice)
        for channel, group in groups.items():
            deliver = self.by_channel.get(channel)
            if deliver is not None:
                await self._guarded(channel, deliver, tuple(group))
            elif channel not in PULLED_CHANNELS:
                metrics.observe_notices(channel, len(group), "waiting")
                if channel in self._warned:
                    continue
                self._warned.add(channel)
                logger.warning(
                    "no %s sender in this process: %d notice(s) wait in the database "
                    "(advisors still see their cards in the queue)",
                    channel,
                    len(group),
                )
        for copy in self.copies:
            await self._guarded("copy", copy, notices)

    @staticmethod
    async def _guarded(name: str, deliver: Deliver, notices: tuple[Notice, ...]) -> None:
        try:
            await deliver(notices)
        except Exception:  # one channel failing must not stop the others
            metrics.observe_notices(name, len(notices), "failed")
            logger.exception("delivering %d notice(s) via %s failed", len(notices), name)
        else:
            metrics.observe_notices(name, len(notices), "delivered")
