"""The jobs of a `lawbot serve` process: SLA sweeps and releasing held messages (their notices
handed to the notice router) on the deployment's one scheduler leader, KB reloads everywhere.

With `[scheduler] enabled` every worker stands for leader (`bot.channels.leader`: an advisory lock
on PostgreSQL, a lock file on SQLite) and runs the led jobs only while it holds the lead; a standby
takes over within seconds of the leader's death. `lawbot run` (Telegram) gates its JobQueue jobs
through the same election.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bot.channels import metrics
from bot.channels.leader import Leader, leader_for
from bot.channels.notify import Deliver
from bot.services.container import Services
from bot.services.outcomes import held_notices

__all__ = ["Scheduler"]

logger = logging.getLogger(__name__)


@dataclass
class Scheduler:
    """Run the periodic jobs on the event loop; each job's service call runs in a thread.

    `lead`: whether this process stands for leader (`[scheduler] enabled`); `leader`: the election
    (default: the one that fits the database).
    """

    services: Services
    notify: Deliver
    sweep_seconds: float = 60.0
    release_seconds: float = 5.0
    reload_seconds: float = 60.0
    lead: bool = True
    leader: Leader | None = None
    elect_seconds: float = 5.0  # how often a standby tries the lock and the leader confirms it
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)
    _led: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

    @property
    def leading(self) -> bool:
        """Whether the led jobs (SLA sweeps, held messages) run in this process now."""
        return bool(self._led)

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
        notices = held_notices(outcomes)
        if notices:
            await self.notify(notices)
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

    async def _elect(self, leader: Leader) -> None:
        while True:
            leading = await leader.poll()
            if leading and not self._led:
                self._led = [
                    asyncio.create_task(self._every(self.sweep_seconds, "sla-sweep", "sweep")),
                    asyncio.create_task(
                        self._every(self.release_seconds, "release-held", "release")
                    ),
                ]
                metrics.set_leader(leading=True)
            elif not leading and self._led:
                await self._stop_led()
            await asyncio.sleep(self.elect_seconds)

    async def _stop_led(self) -> None:
        led, self._led = self._led, []
        for task in led:
            task.cancel()
        await asyncio.gather(*led, return_exceptions=True)
        metrics.set_leader(leading=False)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the jobs while the context is open (the ASGI lifespan); give the lead up after."""
        leader = (self.leader or leader_for(self.services.consultation.db)) if self.lead else None
        self._tasks = [
            asyncio.create_task(self._every(self.reload_seconds, "kb-reload", "reload")),
        ]
        if leader is not None:
            self._tasks.append(asyncio.create_task(self._elect(leader)))
            logger.info("scheduler standing for leader: SLA sweeps and held messages")
        try:
            yield
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
            await self._stop_led()
            if leader is not None:
                await leader.close()
