"""The jobs of a `lawbot serve` process that is the deployment's scheduler (`[scheduler]
enabled`): SLA sweeps and releasing held messages, their notices handed to the notice router.

`lawbot run` (Telegram polling) runs the same jobs in PTB's JobQueue; enable the scheduler in one
process of a deployment only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bot.channels.notify import Deliver
from bot.services.container import Services
from bot.services.outcomes import Notice

__all__ = ["Scheduler"]

logger = logging.getLogger(__name__)


@dataclass
class Scheduler:
    """Run the periodic jobs on the event loop; each job's service call runs in a thread."""

    services: Services
    notify: Deliver
    sweep_seconds: float = 60.0
    release_seconds: float = 5.0
    reload_seconds: float = 60.0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

    async def sweep(self) -> int:
        """Send due reminders, held cards, failovers and urgent alarms; return how many."""
        notices = await asyncio.to_thread(self.services.consultation.escalations.sweep)
        if notices:
            logger.info("sla sweep: %d notices", len(notices))
            await self.notify(tuple(notices))
        return len(notices)

    async def release(self) -> int:
        """Answer held messages as the pace allows; pushed channels get the replies now."""
        outcomes = await asyncio.to_thread(self.services.consultation.release_held)
        notices: list[Notice] = []
        for outcome in outcomes:
            who = outcome.held_for
            if who is None:
                continue
            chat = who.chat_id or who.user_id
            notices += [Notice(chat, reply, channel=who.channel) for reply in outcome.replies]
            notices += outcome.notices
        if notices:
            await self.notify(tuple(notices))
        return len(outcomes)

    async def reload(self) -> None:
        """Pick up approved KB entries."""
        if await asyncio.to_thread(self.services.consultation.refresh_knowledge):
            logger.info("knowledge base reloaded")

    async def _every(self, seconds: float, name: str, job: str) -> None:
        while True:
            try:
                await getattr(self, job)()
            except Exception:  # a failed run is retried on the next tick
                logger.exception("scheduled job %s failed", name)
            await asyncio.sleep(seconds)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the jobs while the context is open (the ASGI lifespan)."""
        self._tasks = [
            asyncio.create_task(self._every(self.sweep_seconds, "sla-sweep", "sweep")),
            asyncio.create_task(self._every(self.release_seconds, "release-held", "release")),
            asyncio.create_task(self._every(self.reload_seconds, "kb-reload", "reload")),
        ]
        logger.info("scheduler running: SLA sweeps, held messages, KB reloads")
        try:
            yield
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
