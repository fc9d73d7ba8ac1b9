"""The jobs of a `lawbot serve` process: SLA sweeps and releasing held messages (their notices
handed to the notice router) on the deployment's one scheduler leader, KB reloads everywhere.

Given push `senders` (one per channel: WeChat, and Telegram when the process has a bot), the
leader also sends publicity pushes: it plans them from config + delivery log when it takes the
lead and every `plan_seconds` after (never while one of its pushes is being delivered), sleeps
until each is due by the service clock, and resumes interrupted runs. A `lawbot run` (Telegram)
process sending the same push at the same time is harmless: runs are unique per push and date,
and each delivery is claimed by one sender; each process sends the channels it has senders for.

With `[scheduler] enabled` every worker stands for leader (`bot.channels.leader`: an advisory lock
on PostgreSQL, a lock file on SQLite) and runs the led jobs only while it holds the lead; a standby
takes over within seconds of the leader's death. `lawbot run` (Telegram) gates its JobQueue jobs
through the same election.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.channels import metrics
from bot.channels.leader import Leader, leader_for
from bot.channels.notify import Deliver
from bot.services.campaign_schedule import Occurrence
from bot.services.campaigns import Senders
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
    senders: Senders | None = None  # push senders per channel; None: no pushes from here
    plan_seconds: float = 6 * 3600.0  # how often the leader re-plans the pushes
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)
    _led: list[asyncio.Task[None]] = field(default_factory=list, repr=False)
    _pushes: dict[str, asyncio.Task[None]] = field(default_factory=dict, repr=False)
    _delivering: int = field(default=0, repr=False)

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

    async def plan_pushes(self) -> list[str]:
        """Plan the pushes and start a task per due or coming push and per run to resume;
        return the job ids started now (none without senders or while a push is delivering)."""
        if self.senders is None:
            return []
        if self._delivering:
            logger.info("campaign plan postponed: a push is being delivered")
            return []
        service = self.services.campaigns
        plan = await asyncio.to_thread(service.plan)
        started = []
        for run_id in plan.resume:
            job_id = f"campaign:resume:{run_id}"
            if self._start_push(job_id, self._resume(run_id)):
                started.append(job_id)
        for occ, when in plan.scheduled:
            # A delay from the service clock's instant of the plan (not the wall clock).
            delay = max(when - plan.now, timedelta(0)).total_seconds()
            if self._start_push(occ.job_id, self._push(occ, delay)):
                started.append(occ.job_id)
        logger.info(
            "campaign pushes: %d scheduled, %d missed, %d resumed (channels %s)",
            len(plan.scheduled),
            len(plan.missed),
            len(plan.resume),
            ", ".join(sorted(self.senders)),
        )
        return started

    def push_tasks(self) -> dict[str, asyncio.Task[None]]:
        """The push tasks waiting or delivering now, by job id."""
        return {job_id: t for job_id, t in self._pushes.items() if not t.done()}

    async def cancel_pushes(self) -> None:
        """Stop the waiting and delivering pushes (a delivering one is resumed by the next plan)."""
        tasks, self._pushes = list(self._pushes.values()), {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _start_push(self, job_id: str, work: Coroutine[Any, Any, None]) -> bool:
        running = self._pushes.get(job_id)
        if running is not None and not running.done():
            work.close()  # already waiting for the same push
            return False
        self._pushes[job_id] = asyncio.create_task(work, name=job_id)
        return True

    async def _push(self, occ: Occurrence, delay: float) -> None:
        assert self.senders is not None
        await asyncio.sleep(delay)
        self._delivering += 1
        try:
            counts = await self.services.campaigns.execute(occ, self.senders)
            logger.info("push %s finished: %s", occ.job_id, counts)
        except Exception:
            logger.exception("push %s failed", occ.job_id)
        finally:
            self._delivering -= 1

    async def _resume(self, run_id: int) -> None:
        assert self.senders is not None
        self._delivering += 1
        try:
            counts = await self.services.campaigns.deliver(run_id, self.senders)
            logger.info("resumed run %d finished: %s", run_id, counts)
        except Exception:
            logger.exception("resuming run %d failed", run_id)
        finally:
            self._delivering -= 1

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
                if self.senders is not None:
                    self._led.append(
                        asyncio.create_task(
                            self._every(self.plan_seconds, "campaign-plan", "plan_pushes")
                        )
                    )
                metrics.set_leader(leading=True)
            elif not leading and self._led:
                await self._stop_led()
            await asyncio.sleep(self.elect_seconds)

    async def _stop_led(self) -> None:
        await self.cancel_pushes()
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
