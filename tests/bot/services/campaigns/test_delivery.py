"""Delivery: the audience, resumable at-most-once sends with 429/403/400/5xx, grace, no doubles."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlmodel import select
from telegram import Bot
from telegram.request import HTTPXRequest

from bot import texts as bot_texts
from bot.channels.telegram.campaign_handlers import telegram_sender
from bot.ops.telegram_emulator import Emulator, Fault
from bot.services.campaigns import (
    Blocked,
    Buttons,
    CampaignService,
    ChatGone,
    Pacing,
    Rejected,
    RetryLater,
    Transient,
)
from storage.campaign_models import CampaignDelivery, CampaignRun, RunState
from storage.clock import ManualClock as Clock
from storage.db import Database
from storage.models import Villager
from tests.bot.services.campaigns.conftest import FAST, add_villagers

TOKEN = "123456:TEST-TOKEN"
FINAL = {"sent", "failed", "blocked", "deactivated", "skipped"}


class FakeSender:
    """Records sends; raises queued errors per chat first."""

    def __init__(self, errors: dict[str, list[Exception]] | None = None) -> None:
        self.errors = errors or {}
        self.sent: list[tuple[str, str, Buttons]] = []
        self.calls: Counter[str] = Counter()

    async def __call__(self, chat_id: str, text: str, buttons: Buttons) -> None:
        self.calls[chat_id] += 1
        queued = self.errors.get(chat_id)
        if queued:
            raise queued.pop(0)
        self.sent.append((chat_id, text, buttons))


def _occ(campaigns: CampaignService, key: str, now: datetime) -> object:
    occ = campaigns.next_occurrence(key, now)
    assert occ is not None
    return occ


def _deliveries(db: Database) -> list[CampaignDelivery]:
    with db.session() as session:
        return list(session.exec(select(CampaignDelivery)).all())


async def test_push_reaches_exactly_the_subscribed_villagers_of_its_audience(
    campaigns: CampaignService, db: Database, clock: Clock
) -> None:
    target = add_villagers(db, 6, villages=("xishan", "mashan"))
    add_villagers(db, 4, villages=("waihong",), first=6_000_000)
    add_villagers(db, 2, villages=("xishan",), first=6_100_000, subscribed=False)
    add_villagers(db, 2, villages=("mashan",), first=6_200_000, active=False)
    add_villagers(db, 1, villages=("mashan",), first=6_300_000, forgotten_at=datetime.now(UTC))
    add_villagers(db, 2, villages=("xishan",), first=6_400_000, channel="console")
    clock.now = datetime(2027, 1, 1, tzinfo=UTC)
    occ = campaigns.next_occurrence("forest_fire.eve")
    assert occ is not None
    assert occ.villages == ("xishan", "mashan")
    assert campaigns.audience_size(occ.villages) == 6
    clock.now = occ.at
    sender = FakeSender()
    counts = await campaigns.execute(occ, sender)
    assert counts == {"sent": 6}
    assert sorted(int(c) for c, _, _ in sender.sent) == target
    chat, text, buttons = sender.sent[0]
    delivery = next(d for d in _deliveries(db) if d.chat_id == chat)
    assert "山" in text
    assert "退订" in text
    assert [b.action for b in buttons[0]] == [f"cf:{delivery.id}", f"cu:{delivery.id}"]
    # executing the same occurrence again sends nothing
    assert await campaigns.execute(occ, sender) is None
    assert len(sender.sent) == 6


async def test_error_classes_end_in_their_state(
    campaigns: CampaignService, db: Database, clock: Clock
) -> None:
    chats = [str(c) for c in add_villagers(db, 6)]
    sender = FakeSender(
        {
            chats[0]: [Blocked("Forbidden: bot was blocked by the user")],
            chats[1]: [ChatGone("Bad Request: chat not found")],
            chats[2]: [Transient("Internal Server Error")] * 2,  # then ok
            chats[3]: [Transient("Timed out")] * 10,  # gives up
            chats[4]: [RetryLater(0.05), RetryLater(0.05)],  # then ok
            chats[5]: [Rejected("Bad Request: message is too long")],
        }
    )
    clock.now = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    occ = campaigns.next_occurrence("constitution_day.day")
    assert occ is not None
    clock.now = occ.at
    counts = await campaigns.execute(occ, sender)
    assert counts == {"blocked": 1, "deactivated": 1, "sent": 2, "failed": 2}
    states = {d.chat_id: (d.state, d.attempts) for d in _deliveries(db)}
    assert states[chats[0]] == ("blocked", 1)
    assert states[chats[1]] == ("deactivated", 1)
    assert states[chats[2]] == ("sent", 3)
    assert states[chats[3]] == ("failed", FAST.max_attempts)
    assert states[chats[4]] == ("sent", 3)
    assert states[chats[5]] == ("failed", 1)
    with db.session() as session:
        villagers = {v.chat_id: v for v in session.exec(select(Villager)).all()}
    assert (villagers[chats[0]].subscribed, villagers[chats[0]].active) == (False, True)
    assert (villagers[chats[1]].subscribed, villagers[chats[1]].active) == (True, False)
    # the next push skips both
    occ2 = campaigns.next_occurrence("anti_fraud.day")
    assert occ2 is not None
    clock.now = occ2.at
    sender2 = FakeSender()
    await campaigns.execute(occ2, sender2)
    assert {c for c, _, _ in sender2.sent} == set(chats[2:])


async def test_two_thousand_subscribers_with_faults_against_the_emulator(
    campaigns: CampaignService, db: Database, clock: Clock, emulator: Emulator
) -> None:
    chats = add_villagers(db, 2000, villages=("waihong", "shaofan", "caoxi"))
    emulator.fail(
        "sendMessage", Fault(429, "Too Many Requests: retry after 1", retry_after=1, times=2)
    )
    emulator.fail(
        "sendMessage",
        Fault(403, "Forbidden: bot was blocked by the user", times=30, probability=0.02),
    )
    emulator.fail("sendMessage", Fault(500, "Internal Server Error", times=60, probability=0.03))
    emulator.fail(
        "sendMessage", Fault(400, "Bad Request: chat not found", times=5, probability=0.01)
    )
    bot = Bot(
        TOKEN,
        base_url=emulator.base_url,
        request=HTTPXRequest(connection_pool_size=64, read_timeout=5),
    )
    clock.now = datetime(2026, 11, 26, tzinfo=UTC)
    occ = campaigns.next_occurrence("constitution_day.week")
    assert occ is not None
    clock.now = occ.at
    async with bot:
        counts = await campaigns.execute(occ, telegram_sender(bot))
    assert counts is not None
    assert sum(counts.values()) == 2000
    assert set(counts) <= FINAL
    assert counts["blocked"] == 30
    assert counts["deactivated"] == 5
    assert counts["sent"] >= 2000 - 30 - 5 - 5  # 500s are retried; a few may exhaust attempts
    ok = Counter(int(p["chat_id"]) for p in emulator.sent("sendMessage"))
    assert max(ok.values()) == 1, "a villager got the push twice"
    rows = _deliveries(db)
    assert len(rows) == 2000
    assert len({d.villager_id for d in rows}) == 2000
    assert {int(d.chat_id) for d in rows if d.state == "sent"} == set(ok)
    assert set(ok) <= set(chats)
    with db.session() as session:
        run = session.exec(select(CampaignRun)).one()
        blocked = session.exec(select(Villager).where(Villager.subscribed == False)).all()  # noqa: E712
    assert run.state == RunState.DONE
    assert run.targeted == 2000
    assert len(blocked) == 30


async def test_downtime_inside_and_outside_the_grace(
    campaigns: CampaignService, clock: Clock, db: Database
) -> None:
    add_villagers(db, 3)
    due = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)  # constitution_day.eve, 09:00 local
    clock.now = due + timedelta(hours=5)  # back up 5 h late: inside 6 h
    plan = campaigns.plan()
    late = [(o.push_key, when) for o, when in plan.scheduled if o.at <= clock.now]
    assert late == [("constitution_day.eve", clock.now)]
    # earlier pushes of the week are more than 6 h late: missed, and recorded
    assert [o.push_key for o in plan.missed] == [
        "constitution_day.week",
        "constitution_day.week3",
        "constitution_day.week5",
    ]
    sender = FakeSender()
    occ = next(o for o, _ in plan.scheduled if o.push_key == "constitution_day.eve")
    assert await campaigns.execute(occ, sender) == {"sent": 3}

    # outside the grace: recorded missed, not sent, and not missed twice
    clock.now = datetime(2026, 12, 4, 0, 30, tzinfo=UTC) + timedelta(hours=7)
    plan = campaigns.plan()
    assert [o.push_key for o in plan.missed] == ["constitution_day.day"]
    assert all(o.at > clock.now for o, _ in plan.scheduled)
    assert campaigns.plan().missed == ()
    with db.session() as session:
        runs = {r.push_key: r.state for r in session.exec(select(CampaignRun)).all()}
    assert runs["constitution_day.day"] == RunState.MISSED
    assert runs["constitution_day.eve"] == RunState.DONE
    assert len(sender.sent) == 3


async def test_late_fire_after_grace_is_missed(
    campaigns: CampaignService, clock: Clock, db: Database
) -> None:
    add_villagers(db, 2)
    occ = campaigns.next_occurrence("constitution_day.day", datetime(2026, 12, 1, tzinfo=UTC))
    assert occ is not None
    clock.now = occ.at + timedelta(hours=6, minutes=1)
    sender = FakeSender()
    assert await campaigns.execute(occ, sender) is None
    assert sender.sent == []
    assert not campaigns.is_open(occ)


async def test_restart_inside_quiet_hours_waits_for_morning(
    campaigns: CampaignService, clock: Clock
) -> None:
    # ebike_charging.june goes out 2027-06-01 19:00 local; the bot comes back at 21:30 local
    due = datetime(2027, 6, 1, 11, 0, tzinfo=UTC)
    clock.now = due + timedelta(hours=2, minutes=30)
    plan = campaigns.plan()
    # the next morning 08:00 is 13 h late: beyond the grace, so missed rather than sent at night
    assert "ebike_charging.june" in [o.push_key for o in plan.missed]
    clock.now = due + timedelta(hours=1, minutes=30)  # back at 20:30: inside grace, not quiet
    # already recorded missed: not resurrected
    job = "campaign:ebike_charging.june:2027-06-01"
    assert job not in [o.job_id for o, _ in campaigns.plan().scheduled]


def test_nothing_scheduled_twice(campaigns: CampaignService, clock: Clock) -> None:
    clock.now = datetime(2026, 11, 1, tzinfo=UTC)
    first = campaigns.plan()
    again = campaigns.plan()
    ids = [o.job_id for o, _ in first.scheduled]
    assert len(ids) == len(set(ids)) > 10
    assert [o.job_id for o, _ in again.scheduled] == ids


async def test_cancel_then_execute_sends_nothing(
    campaigns: CampaignService, clock: Clock, db: Database
) -> None:
    add_villagers(db, 2)
    clock.now = datetime(2026, 11, 1, tzinfo=UTC)
    occ = campaigns.next_occurrence("constitution_day.week")
    assert occ is not None
    assert campaigns.cancel(occ, actor="staff:1")
    clock.now = occ.at
    sender = FakeSender()
    assert await campaigns.execute(occ, sender) is None
    assert sender.sent == []
    assert occ.job_id not in [
        o.job_id for o, _ in campaigns.plan(occ.at - timedelta(hours=1)).scheduled
    ]


async def test_clicks_and_reports(campaigns: CampaignService, clock: Clock, db: Database) -> None:
    chats = [str(c) for c in add_villagers(db, 3)]
    occ = campaigns.next_occurrence("constitution_day.day")
    assert occ is not None
    clock.now = occ.at
    sender = FakeSender()
    await campaigns.execute(occ, sender)
    ids = {c: b[0][0].action for c, _, b in sender.sent}
    assert campaigns.click("telegram", chats[0], ids[chats[0]]) == bot_texts.CAMPAIGN_THANKS_USEFUL
    assert campaigns.click("telegram", chats[0], ids[chats[0]]) == bot_texts.CAMPAIGN_ALREADY_DONE
    assert (
        campaigns.click("telegram", chats[1], ids[chats[0]]) == bot_texts.CAMPAIGN_CLICK_UNKNOWN
    )  # not theirs
    unsubscribe = ids[chats[1]].replace("cf:", "cu:")
    assert campaigns.click("telegram", chats[1], unsubscribe) == bot_texts.CAMPAIGN_UNSUBSCRIBED
    (report,) = campaigns.reports()
    assert (report.targeted, report.count("sent")) == (3, 3)
    assert report.clicks == {"useful": 1, "unsubscribe": 1}
    assert campaigns.audience_size(None) == 2


async def test_pacing_keeps_the_configured_rate(
    campaigns: CampaignService, clock: Clock, db: Database
) -> None:
    add_villagers(db, 120)
    campaigns.pacing = Pacing(rate_per_second=100)
    stamps: list[float] = []

    async def send(chat_id: str, text: str, buttons: Buttons) -> None:
        stamps.append(time.monotonic())

    run_id = campaigns.start_broadcast("村委会通知：明天上午停水。", None, actor="staff:1")
    counts = await campaigns.deliver(run_id, send)
    assert counts == {"sent": 120}
    span = stamps[-1] - stamps[0]
    assert 1.1 <= span <= 2.0  # 119 intervals at 100/s, never faster
    window = [s for s in stamps if s - stamps[0] < 0.5]
    assert len(window) <= 51
