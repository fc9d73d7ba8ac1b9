"""Publicity pushes: plan from config + delivery log, pick the audience, broadcast resumably.

The sender is injected (an async callable `send(chat_id, text, buttons)` raising the
`SendError` subclasses below), so this module never imports telegram; the Telegram adapter
(`bot.channels.telegram.campaign_handlers.telegram_sender`) translates PTB errors into them.

The audience spans the push channels (`storage.campaign_repository.PUSH_CHANNELS`: Telegram, and
WeChat once `[wechat] app_id` is set); a delivery's channel is its villager's. `deliver` takes one
sender per channel (`{"telegram": ..., "wechat": ...}`; a lone sender is Telegram's) and leaves
the deliveries of a channel it has no sender for pending, for a process that has one (the run
stays running until they are sent).

Errors a sender raises:

    SendError
    ├── RetryLater   flood control: pause every send of the channel, retry
    ├── Blocked      the villager blocked the bot: unsubscribed
    ├── ChatGone     chat gone / unfollowed: the villager is marked inactive
    ├── Transient    timeout, 5xx, busy: retried with backoff, a bounded number of times
    ├── Rejected     any other refusal: failed, not retried
    └── Skipped      the channel cannot carry it now (WeChat's 48-hour window): skipped

Delivery is at-most-once per (run, villager): every delivery row is written (PENDING) before
anything is sent, claimed (SENDING) by a conditional update just before its send, and marked
final after. A crash leaves at most the in-flight rows SENDING; on restart they are recorded as
failed ("outcome unknown") and never re-sent, and the PENDING rest is delivered.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time as _time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session

from bot import texts
from bot.config import Config
from bot.services.campaign_config import CampaignDef
from bot.services.campaign_schedule import Occurrence, occurrences, shift_out_of_quiet
from bot.services.replies import Button
from knowledge.models import CampaignMessage, KnowledgeBase
from storage import campaign_repository as crepo
from storage.campaign_models import CampaignDelivery, CampaignRun, DeliveryState, RunState
from storage.clock import utcnow
from storage.db import Database
from storage.models import Villager

__all__ = [
    "Blocked",
    "Buttons",
    "CampaignService",
    "ChatGone",
    "Pacing",
    "Plan",
    "RateLimiter",
    "Rejected",
    "RetryLater",
    "RunReport",
    "SendError",
    "SendFunc",
    "Senders",
    "Skipped",
    "Transient",
    "push_buttons",
]

logger = logging.getLogger(__name__)

Buttons = tuple[tuple[Button, ...], ...]
SendFunc = Callable[[str, str, Buttons], Awaitable[None]]
Senders = Mapping[str, SendFunc]  # channel -> its sender
TELEGRAM, WECHAT = "telegram", "wechat"
BROADCAST = "broadcast"
USEFUL, UNSUBSCRIBE = "useful", "unsubscribe"


class SendError(Exception):
    """A send failed; subclasses say how the broadcast reacts."""


class RetryLater(SendError):
    """Flood control (429): wait `seconds`, then retry."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds:g}s")
        self.seconds = seconds


class Blocked(SendError):
    """The villager blocked the bot (403): unsubscribe them."""


class ChatGone(SendError):
    """Chat not found / user deactivated: mark the villager inactive."""


class Transient(SendError):
    """Timeout or server error: retry with backoff, a bounded number of times."""


class Rejected(SendError):
    """Any other refusal (400): not retried."""


class Skipped(SendError):
    """The channel cannot carry the push to this villager now: recorded skipped, not retried."""


@dataclass(frozen=True)
class Pacing:
    """How fast and how stubbornly a broadcast sends."""

    rate_per_second: float = 25.0
    per_chat_interval: float = 1.0  # Telegram: about one message per second per chat
    max_attempts: int = 4  # timeouts / 5xx
    backoff: float = 0.5  # first retry delay, doubled each time
    max_rate_limited: int = 20  # 429s tolerated per delivery
    workers: int = 0  # concurrent sends; 0 → 2 × rate, 4..64

    def worker_count(self) -> int:
        """Return the number of concurrent sends."""
        return self.workers or max(4, min(64, math.ceil(self.rate_per_second * 2)))


class RateLimiter:
    """Evenly spaced send slots at `rate` per second; `pause` holds every slot (flood control)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._paused_until = 0.0

    async def acquire(self) -> None:
        """Wait for the next free slot."""
        while True:
            now = _time.monotonic()
            slot = max(now, self._next, self._paused_until)
            self._next = slot + self.interval
            if slot > now:
                await asyncio.sleep(slot - now)
            if _time.monotonic() >= self._paused_until:
                return

    def pause(self, seconds: float) -> None:
        """Hold every send for `seconds` from now."""
        until = _time.monotonic() + seconds
        self._paused_until = max(self._paused_until, until)
        self._next = max(self._next, until)


@dataclass(frozen=True)
class Plan:
    """What start-up derived: pushes to schedule (with when), missed ones, runs to resume."""

    now: datetime  # the service clock's instant the plan was made at: jobs are placed relative to it
    scheduled: tuple[tuple[Occurrence, datetime], ...] = ()
    missed: tuple[Occurrence, ...] = ()
    resume: tuple[int, ...] = ()


@dataclass(frozen=True)
class RunReport:
    """Per-run statistics for staff: targeted, sent, failed, blocked, clicks."""

    run_id: int
    campaign: str
    push_key: str
    scheduled_for: date
    state: str
    targeted: int
    counts: dict[str, int]
    clicks: dict[str, int]

    def count(self, state: str) -> int:
        """Return the number of deliveries in a state."""
        return self.counts.get(state, 0)


def push_buttons(delivery_id: int) -> Buttons:
    """The 👍有用 and 退订 buttons of one delivered push."""
    return (
        (
            Button(texts.CAMPAIGN_BUTTON_USEFUL, f"cf:{delivery_id}"),
            Button(texts.CAMPAIGN_BUTTON_UNSUBSCRIBE, f"cu:{delivery_id}"),
        ),
    )


@dataclass
class CampaignService:
    """Use cases of publicity pushes (scheduling, broadcasting, staff controls, clicks)."""

    config: Config
    kb: KnowledgeBase
    db: Database
    clock: Callable[[], datetime] = utcnow
    schedule: tuple[CampaignDef, ...] | None = None  # default: config.campaigns.schedule
    pacing: Pacing | None = None  # default: config.campaigns.rate_per_second
    lookback: timedelta = timedelta(days=14)
    horizon: timedelta = timedelta(days=400)
    kb_source: Callable[[], KnowledgeBase] | None = None  # follows KB reloads when given
    _messages: dict[str, CampaignMessage] = field(default_factory=dict, repr=False)
    _messages_of: int = 0

    # --- configuration ------------------------------------------------------------------------

    @property
    def campaigns(self) -> tuple[CampaignDef, ...]:
        """Return the configured campaigns."""
        if self.schedule is not None:
            return self.schedule
        configured: tuple[CampaignDef, ...] = getattr(self.config.campaigns, "schedule", ())
        return configured

    @property
    def grace(self) -> timedelta:
        """Return how late a missed push may still be sent."""
        return timedelta(hours=self.config.campaigns.grace_hours)

    def pace(self) -> Pacing:
        """Return the pacing of broadcasts."""
        return self.pacing or Pacing(rate_per_second=self.config.campaigns.rate_per_second)

    @property
    def knowledge(self) -> KnowledgeBase:
        """Return the current knowledge base."""
        return self.kb_source() if self.kb_source is not None else self.kb

    def message(self, message_id: str) -> CampaignMessage | None:
        """Return the KB campaign message with this id."""
        kb = self.knowledge
        if self._messages_of != id(kb):
            self._messages = {m.id: m for m in kb.campaigns}
            self._messages_of = id(kb)
        return self._messages.get(message_id)

    def problems(self) -> list[str]:
        """Return configuration problems (unknown messages or villages) for the start-up log."""
        codes = {v.code for v in self.config.villages}
        found = []
        for campaign in self.campaigns:
            found += [
                f"{campaign.name}: unknown message {p.message}"
                for p in campaign.pushes
                if self.message(p.message) is None
            ]
            found += [
                f"{campaign.name}: unknown village {c}"
                for c in campaign.villages() or ()
                if codes and c not in codes
            ]
        return found

    def title(self, campaign: str) -> str:
        """Return the display title of a campaign."""
        for c in self.campaigns:
            if c.name == campaign and c.title:
                return c.title
        message = next((m for m in self.knowledge.campaigns if m.campaign == campaign), None)
        return message.title if message else campaign

    def occurrences(self, start: datetime, end: datetime) -> list[Occurrence]:
        """Return the pushes going out in [start, end)."""
        cfg = self.config
        return occurrences(
            self.campaigns,
            start,
            end,
            tz=cfg.town.tz,
            quiet_start=cfg.campaigns.quiet_start,
            quiet_end=cfg.campaigns.quiet_end,
        )

    def upcoming(self, now: datetime | None = None, *, limit: int = 10) -> list[Occurrence]:
        """Return the next pushes from now."""
        now = now or self.clock()
        return self.occurrences(now, now + self.horizon)[:limit]

    def next_occurrence(self, push_key: str, now: datetime | None = None) -> Occurrence | None:
        """Return the next occurrence of a push (`campaign.key`)."""
        return next((o for o in self.upcoming(now, limit=10_000) if o.push_key == push_key), None)

    def push_keys(self) -> list[str]:
        """Return every configured push key."""
        return [k for c in self.campaigns for k in c.push_keys()]

    def push_channels(self) -> tuple[str, ...]:
        """Return the channels a push goes to: Telegram, and WeChat once `[wechat] app_id` is set."""
        if self.config.wechat.resolved().app_id:
            return (TELEGRAM, WECHAT)
        return (TELEGRAM,)

    def audience_size(self, villages: tuple[str, ...] | None) -> int:
        """Return how many villagers a push to these villages would reach now."""
        with self.db.session() as session:
            return len(
                crepo.audience(session=session, villages=villages, channels=self.push_channels())
            )

    def render(self, occurrence: Occurrence) -> str:
        """Return the text of a scheduled push."""
        message = self.message(occurrence.message_id)
        body = message.text.strip() if message else occurrence.message_id
        return body + texts.CAMPAIGN_PUSH_FOOTER.format(town=self.config.town.name)

    # --- start-up planning --------------------------------------------------------------------

    def plan(self, now: datetime | None = None) -> Plan:
        """Derive the jobs from config + delivery log: schedule, send late (< grace), or miss."""
        now = now or self.clock()
        cfg = self.config.campaigns
        scheduled: list[tuple[Occurrence, datetime]] = []
        missed: list[Occurrence] = []
        with self.db.session() as session:
            for occ in self.occurrences(now - self.lookback, now + self.horizon):
                run = crepo.get_run(
                    session=session,
                    campaign=occ.campaign,
                    push_key=occ.push_key,
                    scheduled_for=occ.scheduled_for,
                )
                if run is not None:
                    continue  # done, missed, cancelled, or running (resumed below)
                if occ.at > now:
                    scheduled.append((occ, occ.at))
                    continue
                local = now.astimezone(self.config.town.tz)
                when = shift_out_of_quiet(local, cfg.quiet_start, cfg.quiet_end).astimezone(UTC)
                if when - occ.at < self.grace:
                    scheduled.append((occ, when))
                else:
                    missed.append(occ)
                    session.add(self._new_run(occ, state=RunState.MISSED, actor="startup"))
                    logger.warning(
                        "push %s of %s missed (due %s, grace %s)",
                        occ.push_key,
                        occ.scheduled_for,
                        occ.at.isoformat(),
                        self.grace,
                    )
            resume = [r.id for r in crepo.running_runs(session=session) if r.id is not None]
            for run_id in resume:
                crepo.interrupt_sending(now=self.clock(), session=session, run_id=run_id)
        return Plan(now, tuple(scheduled), tuple(missed), tuple(resume))

    def _new_run(self, occ: Occurrence, *, state: RunState, actor: str) -> CampaignRun:
        return CampaignRun(
            campaign=occ.campaign,
            push_key=occ.push_key,
            scheduled_for=occ.scheduled_for,
            message_id=occ.message_id,
            text=self.render(occ),
            villages=",".join(occ.villages or ()),
            due_at=occ.at,
            state=state,
            actor=actor,
        )

    # --- runs ---------------------------------------------------------------------------------

    def start_run(self, occ: Occurrence, *, actor: str = "schedule") -> int | None:
        """Write the run and its pending deliveries (one transaction); None if already handled.

        An existing RUNNING run (interrupted) is returned for resuming; a done, missed or
        cancelled one gives None, so a push is never started twice.
        """
        with self.db.session() as session:
            fresh = self._new_run(occ, state=RunState.RUNNING, actor=actor)
            run, created = crepo.get_or_create_run(session=session, run=fresh)
            if not created:
                return run.id if run.state == RunState.RUNNING else None
            return self._materialize(session, run, occ.villages)

    def start_broadcast(self, text: str, villages: tuple[str, ...] | None, *, actor: str) -> int:
        """Write an ad-hoc notice as a run with its deliveries; return the run id."""
        now = self.clock()
        run = CampaignRun(
            campaign=BROADCAST,
            push_key=f"{BROADCAST}.{now.strftime('%Y%m%d%H%M%S%f')}",
            scheduled_for=now.astimezone(self.config.town.tz).date(),
            text=texts.CAMPAIGN_BROADCAST_HEADER.format(town=self.config.town.name) + text.strip(),
            villages=",".join(villages or ()),
            due_at=now,
            state=RunState.RUNNING,
            actor=actor,
        )
        with self.db.session() as session:
            session.add(run)
            session.flush()
            run_id = self._materialize(session, run, villages)
        assert run_id is not None
        return run_id

    def _materialize(
        self, session: Session, run: CampaignRun, villages: tuple[str, ...] | None
    ) -> int | None:
        session.flush()
        assert run.id is not None
        targets = crepo.audience(session=session, villages=villages, channels=self.push_channels())
        run.targeted = crepo.create_deliveries(
            now=self.clock(), session=session, run_id=run.id, targets=targets
        )
        run.started_at = self.clock()
        logger.info("push %s: %d deliveries written", run.push_key, run.targeted)
        return run.id

    def cancel(self, occ: Occurrence, *, actor: str) -> bool:
        """Cancel one occurrence before it starts (records a cancelled run); False if too late."""
        with self.db.session() as session:
            fresh = self._new_run(occ, state=RunState.CANCELLED, actor=actor)
            run, created = crepo.get_or_create_run(session=session, run=fresh)
            if created:
                return True
            if run.state == RunState.RUNNING and run.id is not None:
                run.state = RunState.CANCELLED
                run.finished_at = self.clock()
                crepo.skip_pending(
                    now=self.clock(), session=session, run_id=run.id, reason="cancelled"
                )
                return True
            return run.state == RunState.CANCELLED

    def is_open(self, occ: Occurrence) -> bool:
        """Tell whether an occurrence has not been started, missed or cancelled yet."""
        with self.db.session() as session:
            run = crepo.get_run(
                session=session,
                campaign=occ.campaign,
                push_key=occ.push_key,
                scheduled_for=occ.scheduled_for,
            )
            return run is None or run.state == RunState.RUNNING

    async def execute(
        self,
        occ: Occurrence,
        send: SendFunc | Senders,
        *,
        actor: str = "schedule",
        check_grace: bool = True,
        on_progress: Callable[[str], None] | None = None,
    ) -> dict[str, int] | None:
        """Run one push: start (or resume) it and deliver; None when it was already handled."""
        if check_grace and self.clock() - occ.at >= self.grace:
            with self.db.session() as session:
                crepo.get_or_create_run(
                    session=session, run=self._new_run(occ, state=RunState.MISSED, actor=actor)
                )
            logger.warning("push %s fired too late: recorded missed", occ.job_id)
            return None
        run_id = await asyncio.to_thread(self.start_run, occ, actor=actor)
        if run_id is None:
            logger.info("push %s already handled: not sent again", occ.job_id)
            return None
        return await self.deliver(run_id, send, on_progress=on_progress)

    # --- delivery -----------------------------------------------------------------------------

    async def deliver(
        self,
        run_id: int,
        send: SendFunc | Senders,
        *,
        on_progress: Callable[[str], None] | None = None,
    ) -> dict[str, int]:
        """Send every pending delivery of a run, paced, each through its channel's sender;
        return the run's counts per state (a lone `send` is the Telegram sender)."""
        pacing = self.pace()
        senders: Senders = send if isinstance(send, Mapping) else {TELEGRAM: send}

        def load() -> tuple[str, list[tuple[int, str, str]]]:
            with self.db.session() as session:
                run = session.get(CampaignRun, run_id)
                assert run is not None
                return run.text, crepo.pending_deliveries(session=session, run_id=run_id)

        text, every = await asyncio.to_thread(load)
        pending = [item for item in every if item[2] in senders]
        if len(pending) < len(every):
            left = sorted({channel for _, _, channel in every if channel not in senders})
            logger.warning(
                "run %d: %d deliveries on %s left pending for a process that can send there",
                run_id,
                len(every) - len(pending),
                ", ".join(left),
            )
        queue: asyncio.Queue[tuple[int, str, str]] = asyncio.Queue()
        for item in pending:
            queue.put_nowait(item)
        limiters = {channel: RateLimiter(pacing.rate_per_second) for channel in senders}
        total, done = len(pending), 0
        started = _time.monotonic()

        def progress(state: str) -> None:
            nonlocal done
            done += 1
            if on_progress is not None:
                on_progress(state)
            if done == total or done % max(1, total // 10) == 0:
                rate = done / max(_time.monotonic() - started, 1e-6)
                logger.info("run %d: %d/%d delivered (%.1f/s)", run_id, done, total, rate)

        async def worker() -> None:
            while True:
                try:
                    delivery_id, chat_id, channel = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                state = await self._deliver_one(
                    run_id, delivery_id, chat_id, text, senders[channel], limiters[channel], pacing
                )
                if state is not None:
                    progress(state)

        await asyncio.gather(*(worker() for _ in range(min(total, pacing.worker_count()))))
        return await asyncio.to_thread(self._close_run, run_id)

    def _close_run(self, run_id: int) -> dict[str, int]:
        with self.db.session() as session:
            counts = crepo.delivery_counts(session=session, run_id=run_id)
            run = session.get(CampaignRun, run_id)
            open_rows = counts.get(DeliveryState.PENDING, 0) + counts.get(DeliveryState.SENDING, 0)
            if run is not None and run.state == RunState.RUNNING and not open_rows:
                run.state = RunState.DONE
                run.finished_at = self.clock()
            return counts

    def _claim(self, run_id: int, delivery_id: int) -> str | None:
        """Claim a delivery: "send", "skipped" (villager left), or None (not ours to send)."""
        with self.db.session() as session:
            if crepo.claim_delivery(
                now=self.clock(), session=session, delivery_id=delivery_id, run_id=run_id
            ):
                return "send"
            if crepo.skip_if_ineligible(
                now=self.clock(), session=session, delivery_id=delivery_id, run_id=run_id
            ):
                return str(DeliveryState.SKIPPED)
            return None

    def _finish(
        self, delivery_id: int, state: DeliveryState, attempts: int, error: str | None
    ) -> None:
        with self.db.session() as session:
            crepo.finish_delivery(
                now=self.clock(),
                session=session,
                delivery_id=delivery_id,
                state=state,
                attempts=attempts,
                error=error,
                sent_at=self.clock() if state == DeliveryState.SENT else None,
            )
            if state in (DeliveryState.BLOCKED, DeliveryState.DEACTIVATED):
                delivery = session.get(CampaignDelivery, delivery_id)
                villager = session.get(Villager, delivery.villager_id) if delivery else None
                if villager is not None:
                    if state == DeliveryState.BLOCKED:
                        villager.subscribed = False
                    else:
                        villager.active = False

    async def _deliver_one(
        self,
        run_id: int,
        delivery_id: int,
        chat_id: str,
        text: str,
        send: SendFunc,
        limiter: RateLimiter,
        pacing: Pacing,
    ) -> str | None:
        claimed = await asyncio.to_thread(self._claim, run_id, delivery_id)
        if claimed != "send":
            return claimed  # skipped, or None: claimed elsewhere / the run was cancelled
        attempts, rate_limited, last = 0, 0, -math.inf
        buttons = push_buttons(delivery_id)
        while True:
            wait = last + pacing.per_chat_interval - _time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await limiter.acquire()
            attempts += 1
            last = _time.monotonic()
            state, error = DeliveryState.FAILED, None
            try:
                await send(chat_id, text, buttons)
                state = DeliveryState.SENT
            except RetryLater as exc:
                rate_limited += 1
                limiter.pause(exc.seconds)
                logger.info("flood control: pausing %.1fs", exc.seconds)
                if rate_limited <= pacing.max_rate_limited:
                    continue
                error = f"rate limited {rate_limited} times"
            except Blocked as exc:
                state, error = DeliveryState.BLOCKED, str(exc)
            except ChatGone as exc:
                state, error = DeliveryState.DEACTIVATED, str(exc)
            except Skipped as exc:
                state, error = DeliveryState.SKIPPED, str(exc)
            except Transient as exc:
                if attempts < pacing.max_attempts:
                    await asyncio.sleep(pacing.backoff * 2 ** (attempts - 1))
                    continue
                error = f"gave up after {attempts} attempts: {exc}"
            except Exception as exc:  # a rejected message, or a bug: recorded, never retried
                error = f"{type(exc).__name__}: {exc}"
            break
        await asyncio.to_thread(self._finish, delivery_id, state, attempts, error)
        return str(state)

    # --- clicks and reports -------------------------------------------------------------------

    def typed_push_choice(
        self,
        channel: str,
        user_id: str,
        number: int,
        *,
        within: timedelta,
        after: datetime | None = None,
    ) -> str | None:
        """The push button a typed number picks (channels without buttons number them 1, 2 in
        `push_buttons` order): from the villager's newest push sent within `within` (and after
        `after`, when the channel last offered them other numbers), unless they have written
        since; None otherwise."""
        with self.db.session() as session:
            delivery_id = crepo.latest_push(
                session=session,
                channel=channel,
                channel_user_id=user_id,
                since=self.clock() - within,
                after=after,
            )
        if delivery_id is None:
            return None
        choices = [b.action for row in push_buttons(delivery_id) for b in row]
        return choices[number - 1] if 1 <= number <= len(choices) else None

    def click(self, channel: str, user_id: str, action: str) -> str:
        """Record a 👍有用 (`cf:<id>`) or 退订 (`cu:<id>`) click; return the answer to show."""
        prefix, _, raw = action.partition(":")
        kind = {"cf": USEFUL, "cu": UNSUBSCRIBE}.get(prefix)
        if kind is None or not raw.isdigit():
            return texts.CAMPAIGN_CLICK_UNKNOWN
        with self.db.session() as session:
            delivery = session.get(CampaignDelivery, int(raw))
            villager = session.get(Villager, delivery.villager_id) if delivery else None
            if (
                delivery is None
                or villager is None
                or villager.channel != channel
                or villager.channel_user_id != user_id
            ):
                return texts.CAMPAIGN_CLICK_UNKNOWN
            fresh = crepo.record_click(session=session, delivery_id=int(raw), kind=kind)
            if kind == UNSUBSCRIBE:
                villager.subscribed = False
                return texts.CAMPAIGN_UNSUBSCRIBED
            return texts.CAMPAIGN_THANKS_USEFUL if fresh else texts.CAMPAIGN_ALREADY_DONE

    def reports(self, *, limit: int = 20) -> list[RunReport]:
        """Return statistics of the newest runs."""
        with self.db.session() as session:
            found = []
            for run in crepo.recent_runs(session=session, limit=limit):
                assert run.id is not None
                found.append(
                    RunReport(
                        run_id=run.id,
                        campaign=run.campaign,
                        push_key=run.push_key,
                        scheduled_for=run.scheduled_for,
                        state=run.state,
                        targeted=run.targeted,
                        counts=crepo.delivery_counts(session=session, run_id=run.id),
                        clicks=crepo.click_counts(session=session, run_id=run.id),
                    )
                )
            return found
