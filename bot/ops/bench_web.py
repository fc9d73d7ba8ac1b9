"""`lawbot bench-web`: the staff console's pages over a synthetic year of consultations.

A scratch database (SQLite by default, or an empty `--database-url`) is filled FAST with bulk
Core inserts — never through the service, never one ORM object per row — with a year the size of
`consultations`: villagers of the 12 villages and the forest farm (uneven sizes), every channel,
questions drawn from the shipped KB's phrasings, the decision mix of real use (answers, checks,
suggestions and the choices that follow them, escalations, follow-ups, held and unsupported
messages), escalations with their events and villager/advisor turns (a few still pending),
👍/👎 feedback, the year's publicity push runs with deliveries and clicks, FAQ drafts and the
audit log. Times follow the town's day (few at night) and season.

Then a staff, an advisor and an admin account are created through the real account service, each
signs in through the real console app (httpx ASGI transport, the real session cookie and CSRF
form), and every page is requested `requests` times after one warm-up request: dashboard (this
month and the whole year), ledger (first page, a filtered page, a deep page, an advisor's page),
the CSV and XLSX exports of one month, the escalation inbox, drafts, campaigns and the audit log.
Each page reports p50/p95/max in milliseconds and whether p95 stays within the budget.
This is a command, never a test: timings depend on the machine.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Connection, Table, func, insert, select
from sqlmodel import SQLModel

from bot.config import Config
from bot.ops.benchmarks import nearest_percentile
from bot.services.container import Services
from knowledge.models import KnowledgeBase
from storage.clock import ManualClock, utcnow
from storage.db import Database

__all__ = ["BUDGET_MS", "PageTiming", "WebBench", "bench_web", "fill_year"]

BUDGET_MS = 300.0
PASSWORD = "bench-web-password"
PAGE_SIZE = 50  # the console's ledger page size
CHANNELS = {"telegram": 34, "wechat": 30, "http": 16, "web": 15, "console": 5}
DECISIONS = {
    "answer": 40,
    "confirm": 10,
    "suggest": 12,
    "choice": 7,
    "escalate": 8,
    "clarify": 7,
    "urgent": 1,
    "follow_up": 6,
    "unsupported": 3,
    "throttled": 1,
    "released": 1,
}
HOURS = [1, 0, 0, 0, 0, 1, 3, 6, 9, 10, 9, 7, 6, 7, 8, 8, 7, 6, 7, 9, 9, 7, 4, 2]  # per hour
VAGUE = ("你好", "在吗", "有人吗", "问个事", "？", "老师在不在")
PREFIXES = ("", "", "", "请问", "我想问一下，", "你好，", "麻烦问下", "老师，")
SUFFIXES = ("", "", "", "怎么办", "？", "啊", "呢", "，谢谢", "，我电话13907931234")
ADVISOR_REPLIES = (
    "您好，这种情况建议先保留好证据，再到村委会申请调解；调解不成可以到镇司法所。",
    "可以先和对方协商，协商不成向劳动监察大队投诉，或者申请劳动仲裁。",
    "建议带上身份证和相关材料到镇司法所，我们当面帮您看一下。",
    "这个要看具体合同怎么写的，方便的话把合同拍照带到村委会给我看看。",
)
DELIVERY_STATES = {"sent": 93, "failed": 2, "blocked": 3, "deactivated": 2}
AUDIT_ACTIONS = ("escalation.reply", "escalation.claim", "escalation.done", "ledger.export")


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageTiming:
    """One page requested `requests` times: status codes and latency in milliseconds."""

    name: str
    path: str
    account: str
    requests: int
    errors: int  # answers other than 200
    statuses: tuple[int, ...]
    p50_ms: float
    p95_ms: float
    max_ms: float
    bytes: int

    @property
    def within_budget(self) -> bool:
        """Whether every answer was a 200 and p95 is within the budget."""
        return self.errors == 0 and self.p95_ms <= BUDGET_MS


@dataclass(frozen=True)
class WebBench:
    """The filled year and every page's timing."""

    backend: str
    consultations: int
    rows: dict[str, int]
    fill_seconds: float
    pages: list[PageTiming] = field(default_factory=list)
    budget_ms: float = BUDGET_MS
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after the pages

    @property
    def ok(self) -> bool:
        """Whether every page answered 200 within the budget."""
        return all(p.within_budget for p in self.pages)

    def as_dict(self) -> dict[str, Any]:
        """The result as plain data (the `--json` output)."""
        return {
            "backend": self.backend,
            "consultations": self.consultations,
            "rows": self.rows,
            "fill_seconds": round(self.fill_seconds, 2),
            "budget_ms": self.budget_ms,
            "load_average": list(self.load),
            "ok": self.ok,
            "pages": [
                {
                    **{k: v for k, v in asdict(p).items() if k != "statuses"},
                    "statuses": sorted(set(p.statuses)),
                    "p50_ms": round(p.p50_ms, 1),
                    "p95_ms": round(p.p95_ms, 1),
                    "max_ms": round(p.max_ms, 1),
                    "within_budget": p.within_budget,
                }
                for p in self.pages
            ],
        }

    def to_json(self) -> str:
        """The result as indented JSON."""
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2)

    def table(self) -> str:
        """The printed report: one line per page."""
        rows = ", ".join(f"{k} {v}" for k, v in self.rows.items())
        lines = [
            f"bench-web: database {self.backend}, {self.consultations} consultations "
            f"(filled in {self.fill_seconds:.1f} s: {rows}); load average "
            f"{self.load[0]:.1f} before, {self.load[1]:.1f} after the pages",
            f"{'page':<22} {'account':<8} {'n':>4} {'err':>4} {'p50 ms':>8} {'p95 ms':>8} "
            f"{'max ms':>8} {'KiB':>7}  p95<={self.budget_ms:g}ms",
        ]
        for p in self.pages:
            lines.append(
                f"{p.name:<22} {p.account:<8} {p.requests:>4} {p.errors:>4} {p.p50_ms:>8.1f} "
                f"{p.p95_ms:>8.1f} {p.max_ms:>8.1f} {p.bytes / 1024:>7.1f}  "
                f"{'yes' if p.within_budget else 'NO'}"
            )
        lines.append("all pages within budget" if self.ok else "SOME PAGES MISS THE BUDGET")
        return "\n".join(lines)


# --- the synthetic year -----------------------------------------------------------------------


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


def _insert(
    connection: Connection, name: str, rows: list[dict[str, Any]], *, ids: bool = False
) -> list[int]:
    """Insert rows in one executemany; with `ids`, return their ids in the rows' order."""
    if not rows:
        return []
    table = _table(name)
    if not ids:
        connection.execute(insert(table), rows)
        return []
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return [int(i) for i in connection.execute(statement, rows).scalars()]


def _weighted(rng: random.Random, weights: dict[str, int], k: int) -> list[str]:
    return rng.choices(list(weights), weights=list(weights.values()), k=k)


def _noisy(text: str, rng: random.Random) -> str:
    text = text.rstrip("？?。")
    if len(text) > 6 and rng.random() < 0.25:
        cut = rng.randrange(len(text))
        text = text[:cut] + text[cut + 1 :]
    return rng.choice(PREFIXES) + text + rng.choice(SUFFIXES)


def _moments(rng: random.Random, count: int, start: datetime, tz: ZoneInfo) -> list[datetime]:
    """`count` aware UTC moments over the 365 town days from `start`: seasonal, daytime."""
    first = start.astimezone(tz).date()
    # more questions in winter and around the Spring Festival (migrant workers come home)
    day_weights = [
        1.0 + 0.35 * math.cos(2 * math.pi * ((first + timedelta(days=d)).timetuple().tm_yday - 30) / 365)
        for d in range(365)
    ]  # fmt: skip
    days = rng.choices(range(365), weights=day_weights, k=count)
    hours = rng.choices(range(24), weights=HOURS, k=count)
    moments = []
    for d, h in zip(days, hours, strict=True):
        day = first + timedelta(days=d)
        local = datetime(day.year, day.month, day.day, h, rng.randrange(60), rng.randrange(60), tzinfo=tz)  # fmt: skip
        moments.append(local.astimezone(UTC))
    return moments


def fill_year(
    db: Database,
    config: Config,
    kb: KnowledgeBase,
    occurrences: Sequence[Any],
    *,
    consultations: int,
    now: datetime,
    seed: int = 1,
) -> dict[str, int]:
    """BENCHMARK ONLY: bulk-insert a year ending at `now`; return the rows written per table.

    `occurrences` are the publicity pushes of the year (`CampaignService.occurrences`).
    """
    rng = random.Random(seed)
    tz = config.town.tz
    start = now - timedelta(days=365)
    villages = list(config.villages)
    village_weights = [rng.uniform(0.4, 2.0) for _ in villages]
    entries = [e for e in kb.entries if e.phrasings]
    counts: dict[str, int] = {}
    with db.engine.begin() as connection:
        # villagers: one channel each, about one per 12 consultations of the year
        people = max(20, consultations // 12)
        villager_channels = _weighted(rng, CHANNELS, people)
        villager_villages = rng.choices(villages, weights=village_weights, k=people)
        joined = _moments(rng, people, start, tz)
        villager_rows = [
            {
                "channel": channel,
                "channel_user_id": f"bw{seed}-{i}",
                "chat_id": f"bw{seed}-{i}",
                "label": f"村民{i:05d}",
                "village_code": village.code,
                "role": "villager",
                "subscribed": rng.random() < 0.85,
                "elder_mode": rng.random() < 0.08,
                "active": rng.random() < 0.97,
                "consent_at": when,
                "created_at": when,
                "last_seen_at": when,
                "forgotten_at": None,
                "phone": None,
                "phone_consent_at": None,
            }
            for i, (channel, village, when) in enumerate(
                zip(villager_channels, villager_villages, joined, strict=True)
            )
        ]
        villager_ids = _insert(connection, "villager", villager_rows, ids=True)
        counts["villagers"] = len(villager_ids)

        # consultations, oldest first (as the service writes them)
        moments = sorted(_moments(rng, consultations, start, tz))
        moments = [min(m, now - timedelta(minutes=1)) for m in moments]
        decisions = _weighted(rng, DECISIONS, consultations)
        # a villager asks more than once: a skewed pick (some ask often, most once or twice)
        askers = [min(people - 1, int(people * rng.random() ** 1.6)) for _ in range(consultations)]
        consultation_rows: list[dict[str, Any]] = []
        for when, decision, who in zip(moments, decisions, askers, strict=True):
            entry = rng.choice(entries)
            if decision == "unsupported":
                text, kind = "", rng.choice(("voice", "photo", "sticker"))
            elif decision == "clarify":
                text, kind = rng.choice(VAGUE), "text"
            else:
                text, kind = _noisy(rng.choice(entry.phrasings), rng), "text"
            answered = decision in ("answer", "confirm", "choice", "released")
            guesses = (
                json.dumps([[e.id, round(rng.uniform(0.2, 0.6), 3)] for e in rng.sample(entries, 3)])
                if decision in ("suggest", "escalate", "urgent", "clarify")
                else ""
            )  # fmt: skip
            consultation_rows.append(
                {
                    "villager_id": villager_ids[who],
                    "channel": villager_channels[who],
                    "village_code": villager_villages[who].code,
                    "kind": kind,
                    "raw_text": text,
                    "normalized_text": text,
                    "decision": decision,
                    "faq_id": entry.id if answered else None,
                    "topic_key": entry.topic_key
                    if decision not in ("clarify", "unsupported")
                    else None,
                    "score": round(
                        rng.uniform(0.7, 0.95) if answered else rng.uniform(0.1, 0.6), 3
                    ),
                    "candidates": guesses,
                    "latency_ms": round(rng.lognormvariate(math.log(40), 0.5), 1),
                    "urgent": decision == "urgent",
                    "update_key": None,
                    "created_at": when,
                    "replied_at": when + timedelta(seconds=rng.uniform(0.2, 3)),
                }
            )
        consultation_ids = _insert(connection, "consultation", consultation_rows, ids=True)
        counts["consultations"] = len(consultation_ids)

        # escalations of escalate/urgent questions; the recent ones (and a few old) still pending
        advisors = {
            v.code: (
                str(v.advisor_id) if v.advisor_id else None,
                str(v.backup_advisor_id) if v.backup_advisor_id else None,
            )
            for v in villages
        }
        office = config.justice_office.telegram_ids
        office_id = str(office[0]) if office else None
        escalation_rows: list[dict[str, Any]] = []
        plans: list[tuple[int, dict[str, Any], str | None, Any, Any, Any]] = []
        for cid, row in zip(consultation_ids, consultation_rows, strict=True):
            if row["decision"] not in ("escalate", "urgent"):
                continue
            created: datetime = row["created_at"]
            age_hours = (now - created).total_seconds() / 3600
            claim = created + timedelta(hours=rng.lognormvariate(math.log(2), 0.8))
            first = claim + timedelta(hours=rng.lognormvariate(math.log(5), 0.9))
            closed = first + timedelta(hours=rng.lognormvariate(math.log(20), 1.0))
            stuck = rng.random() < 0.003  # forgotten: still open long after
            claimed_at = claim if claim < now and not stuck else None
            first_at = first if first < now and claimed_at and rng.random() < 0.97 else None
            closed_at = closed if first_at and closed < now and rng.random() < 0.9 else None
            state = (
                "closed" if closed_at else "answered" if first_at else "claimed" if claimed_at
                else "open"
            )  # fmt: skip
            level = 0 if rng.random() < 0.92 else 1 if rng.random() < 0.7 else 2
            main, backup = advisors.get(row["village_code"], (None, None))
            advisor = [main, backup or main, office_id][level]
            escalation_rows.append(
                {
                    "consultation_id": cid,
                    "villager_id": row["villager_id"],
                    "village_code": row["village_code"],
                    "advisor_id": advisor,
                    "state": state,
                    "reason": "urgent" if row["urgent"] else rng.choice(("unmatched", "asked")),
                    "urgent": row["urgent"],
                    "created_at": created,
                    "claimed_at": claimed_at,
                    "first_response_at": first_at,
                    "closed_at": closed_at,
                    "level": level,
                    "assigned_at": created,
                    "reminded_at": created + timedelta(hours=config.sla.remind_hours)
                    if age_hours > config.sla.remind_hours and first_at is None
                    else None,
                    "notified_at": created + timedelta(seconds=5),
                    "needs_call": rng.random() < 0.05,
                    "thread_open": closed_at is None,
                }
            )
            plans.append((cid, row, advisor, claimed_at, first_at, closed_at))
        escalation_ids = _insert(connection, "escalation", escalation_rows, ids=True)
        counts["escalations"] = len(escalation_ids)

        events: list[dict[str, Any]] = []
        turns: list[dict[str, Any]] = []
        feedback: list[dict[str, Any]] = []
        for eid, (cid, row, advisor, claimed_at, first_at, closed_at) in zip(
            escalation_ids, plans, strict=True
        ):
            created = row["created_at"]
            actor = f"telegram:{advisor}" if advisor else "system"
            steps: list[tuple[str | None, str, datetime, str]] = [
                (None, "open", created, "system")
            ]
            if claimed_at:
                steps.append(("open", "claimed", claimed_at, actor))
            if first_at:
                steps.append(("claimed", "answered", first_at, actor))
            if closed_at:
                steps.append(("answered", "closed", closed_at, actor))
            events += [
                {"escalation_id": eid, "from_state": a, "to_state": b, "actor": who, "note": "", "at": at}
                for a, b, at, who in steps
            ]  # fmt: skip
            turns.append(
                {"escalation_id": eid, "author": "villager", "actor": "", "text": row["raw_text"],
                 "at": created, "delivered_at": created + timedelta(seconds=5)}
            )  # fmt: skip
            if first_at:
                turns.append(
                    {"escalation_id": eid, "author": "advisor", "actor": actor,
                     "text": rng.choice(ADVISOR_REPLIES), "at": first_at,
                     "delivered_at": first_at + timedelta(seconds=3)}
                )  # fmt: skip
                if rng.random() < 0.3:
                    later = first_at + timedelta(minutes=rng.uniform(5, 120))
                    turns.append(
                        {"escalation_id": eid, "author": "villager", "actor": "",
                         "text": "好的，谢谢，那要带什么材料？", "at": later, "delivered_at": later}
                    )  # fmt: skip
                if rng.random() < 0.4:
                    feedback.append(
                        {"consultation_id": cid, "villager_id": row["villager_id"],
                         "target": "advisor", "helpful": rng.random() < 0.9, "reason": None,
                         "created_at": first_at + timedelta(minutes=10)}
                    )  # fmt: skip
        for cid, row in zip(consultation_ids, consultation_rows, strict=True):
            if row["decision"] in ("answer", "confirm", "choice") and rng.random() < 0.3:
                helpful = rng.random() < 0.85
                feedback.append(
                    {"consultation_id": cid, "villager_id": row["villager_id"], "target": "faq",
                     "helpful": helpful,
                     "reason": None if helpful else rng.choice(("not_my_case", "unclear", None)),
                     "created_at": row["created_at"] + timedelta(minutes=1)}
                )  # fmt: skip
        _insert(connection, "escalationevent", events)
        _insert(connection, "escalationturn", turns)
        _insert(connection, "feedback", feedback)
        counts |= {"events": len(events), "turns": len(turns), "feedback": len(feedback)}

        # publicity pushes of the year: one run per occurrence, one delivery per subscriber
        subscribers = [
            (vid, r["village_code"], r["chat_id"])
            for vid, r in zip(villager_ids, villager_rows, strict=True)
            if r["subscribed"] and r["active"]
        ]
        runs = [
            {
                "campaign": o.campaign,
                "push_key": o.push_key,
                "scheduled_for": o.scheduled_for,
                "message_id": o.message_id,
                "text": "",
                "villages": ",".join(o.villages or ()),
                "due_at": o.at,
                "state": "done",
                "targeted": 0,
                "actor": "schedule",
                "created_at": o.at,
                "started_at": o.at,
                "finished_at": o.at + timedelta(minutes=10),
            }
            for o in occurrences
            if o.at < now
        ]
        audiences = [
            [s for s in subscribers if not o.villages or s[1] in o.villages]
            for o in occurrences
            if o.at < now
        ]
        for run, audience in zip(runs, audiences, strict=True):
            run["targeted"] = len(audience)
        run_ids = _insert(connection, "campaign_run", runs, ids=True)
        deliveries: list[dict[str, Any]] = []
        for run_id, run, audience in zip(run_ids, runs, audiences, strict=True):
            states = _weighted(rng, DELIVERY_STATES, len(audience))
            sent = run["due_at"] + timedelta(minutes=2)
            deliveries += [
                {"run_id": run_id, "villager_id": vid, "chat_id": chat, "state": state,
                 "attempts": 1, "error": None if state == "sent" else state, "created_at": run["due_at"],
                 "sent_at": sent if state == "sent" else None, "updated_at": sent}
                for (vid, _, chat), state in zip(audience, states, strict=True)
            ]  # fmt: skip
        delivery_ids = _insert(connection, "campaign_delivery", deliveries, ids=True)
        clicks = []
        for did, delivery in zip(delivery_ids, deliveries, strict=True):
            if delivery["state"] != "sent":
                continue
            roll = rng.random()
            if roll < 0.07:
                kind = "useful" if roll < 0.06 else "unsubscribe"
                at = delivery["sent_at"] + timedelta(minutes=rng.uniform(1, 600))
                clicks.append({"delivery_id": did, "kind": kind, "at": at})
        _insert(connection, "campaign_click", clicks)
        counts |= {"runs": len(run_ids), "deliveries": len(delivery_ids), "clicks": len(clicks)}

        # drafts from advisor answers: a few waiting, most decided; and the audit log
        replied = [(eid, p) for eid, p in zip(escalation_ids, plans, strict=True) if p[4]]
        drafts = []
        for eid, (cid, row, advisor, _, first_at, _) in rng.sample(replied, min(len(replied), 80)):
            waiting = first_at > now - timedelta(days=30) and rng.random() < 0.6
            drafts.append(
                {"escalation_id": eid, "question": row["raw_text"] or "问题",
                 "answer": rng.choice(ADVISOR_REPLIES), "short": "", "variants": "[]",
                 "basis": "[]", "next_steps": "", "topic_key": row["topic_key"],
                 "author": f"telegram:{advisor}", "state": "draft" if waiting else rng.choice(("approved", "rejected")),
                 "kind": "entry", "consultation_id": cid, "reason": "", "entry_id": None,
                 "created_at": first_at, "decided_at": None if waiting else first_at + timedelta(days=2),
                 "decided_by": None if waiting else "staff"}
            )  # fmt: skip
        _insert(connection, "faqdraft", drafts)
        audit_times = sorted(_moments(rng, max(10, consultations // 30), start, tz))
        audit = [
            {"at": at, "actor": rng.choice(("chen", "li", "zhang", "wang")),
             "action": rng.choice(AUDIT_ACTIONS), "target": str(rng.randrange(1, 10_000)),
             "detail": "{'from': '', 'to': ''}"}
            for at in audit_times
            if at < now
        ]  # fmt: skip
        _insert(connection, "auditentry", audit)
        counts |= {"drafts": len(drafts), "audit": len(audit)}
    return counts


# --- the pages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Page:
    name: str
    path: str
    account: str


def _pages(now: datetime, tz: ZoneInfo, consultations: int, village: str) -> list[_Page]:
    today = now.astimezone(tz).date()
    year = f"from={today - timedelta(days=364)}&to={today}"
    month_end = today.replace(day=1) - timedelta(days=1)
    month = f"from={month_end.replace(day=1)}&to={month_end}"
    deep = max(2, (consultations * 8 // 10) // PAGE_SIZE)
    return [
        _Page("dashboard (month)", "/console/", "staff"),
        _Page("dashboard (year)", f"/console/?{year}", "staff"),
        _Page("dashboard (advisor)", f"/console/?{year}", "advisor"),
        _Page("ledger (first page)", f"/console/ledger?{year}", "staff"),
        _Page(
            "ledger (filtered)",
            f"/console/ledger?{year}&village={village}&decision=escalate",
            "staff",
        ),
        _Page(f"ledger (page {deep})", f"/console/ledger?{year}&page={deep}", "staff"),
        _Page("ledger (advisor)", f"/console/ledger?{year}", "advisor"),
        _Page("ledger.csv (month)", f"/console/ledger.csv?{month}", "staff"),
        _Page("ledger.xlsx (month)", f"/console/ledger.xlsx?{month}", "staff"),
        _Page("escalations", "/console/escalations", "staff"),
        _Page("escalations (advisor)", "/console/escalations", "advisor"),
        _Page("drafts", "/console/drafts", "staff"),
        _Page("campaigns", "/console/campaigns", "staff"),
        _Page("audit", "/console/audit", "admin"),
    ]


async def _signed_in(app: Any, name: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    client = httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600)
    form = await client.get("/console/login")
    marker = 'name="csrf" value="'
    token = form.text.split(marker, 1)[1].split('"', 1)[0]
    response = await client.post(
        "/console/login", data={"username": name, "password": PASSWORD, "csrf": token}
    )
    if response.status_code != 303:
        raise RuntimeError(f"bench-web: signing in as {name} failed ({response.status_code})")
    return client


async def _time_pages(app: Any, pages: Iterable[_Page], requests: int) -> list[PageTiming]:
    clients = {role: await _signed_in(app, f"bench-{role}") for role in ("staff", "advisor", "admin")}  # fmt: skip
    results = []
    try:
        for page in pages:
            client = clients[page.account]
            await client.get(page.path)  # warm-up: templates compiled, caches filled
            latencies, statuses, size = [], [], 0
            for _ in range(requests):
                started = time.perf_counter()
                response = await client.get(page.path)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses.append(response.status_code)
                size = len(response.content)
            results.append(
                PageTiming(
                    name=page.name,
                    path=page.path,
                    account=page.account,
                    requests=requests,
                    errors=sum(1 for s in statuses if s != 200),
                    statuses=tuple(statuses),
                    p50_ms=nearest_percentile(latencies, 0.5),
                    p95_ms=nearest_percentile(latencies, 0.95),
                    max_ms=max(latencies, default=0.0),
                    bytes=size,
                )
            )
    finally:
        for client in clients.values():
            await client.aclose()
    return results


def _wire(config: Config, url: str) -> tuple[Database, Services]:
    from bot.wiring import build_services, open_database

    cfg = config.model_copy(
        update={
            "database": config.database.model_copy(update={"url": url}),
            "console": config.console.model_copy(update={"https_only": False}),
        }
    )
    db = open_database(cfg)
    return db, build_services(cfg, db=db, semantic=False)


def bench_web(
    config: Config,
    *,
    database_url: str | None = None,
    consultations: int = 100_000,
    requests: int = 30,
    now: datetime | None = None,
    seed: int = 1,
) -> WebBench:
    """Fill a year into an empty database (default: a scratch SQLite file), then time the pages.

    Raises `ValueError` when the database given already holds consultations.
    """
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from bot.channels.webconsole import build_console_app

    moment = now or utcnow()
    with tempfile.TemporaryDirectory(prefix="lawbot-bench-web-") as scratch:
        url = database_url or f"sqlite:///{Path(scratch) / 'bench.sqlite3'}"
        db, services = _wire(config, url)
        try:
            with db.engine.connect() as connection:
                existing = connection.execute(
                    select(func.count()).select_from(_table("consultation"))
                ).scalar_one()
            if existing:
                raise ValueError(
                    f"bench-web needs an empty database; {url} holds {existing} consultations"
                )
            services.consultation.clock = ManualClock(moment)
            occurrences = services.campaigns.occurrences(moment - timedelta(days=365), moment)
            started = time.perf_counter()
            rows = fill_year(
                db, services.config, services.consultation.kb, occurrences,
                consultations=consultations, now=moment, seed=seed,
            )  # fmt: skip
            fill_seconds = time.perf_counter() - started
            if db.backend == "postgresql":  # what autovacuum does soon after a bulk load
                with db.engine.begin() as connection:
                    connection.exec_driver_sql("ANALYZE")
            village = services.config.villages[0].code
            accounts = services.accounts
            accounts.add("bench-staff", "staff", PASSWORD, actor="bench-web")
            accounts.add("bench-admin", "admin", PASSWORD, actor="bench-web")
            accounts.add("bench-advisor", "advisor", PASSWORD, villages=[village], actor="bench-web")  # fmt: skip
            inner = build_console_app(services, secret="bench-web-" + "s" * 32)
            app = Starlette(routes=[Mount("/console", app=inner)])
            pages = _pages(moment, services.config.town.tz, consultations, village)
            before = os.getloadavg()[0]
            timings = asyncio.run(_time_pages(app, pages, requests))
            load = (before, os.getloadavg()[0])
            return WebBench(db.backend, consultations, rows, fill_seconds, timings, load=load)
        finally:
            db.dispose()
