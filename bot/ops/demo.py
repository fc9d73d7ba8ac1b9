"""Synthetic consultation history for trying the reports (`lawbot demo-data`).

`generate_demo_data` drives the REAL service: villagers press /start with their village's deep
link, ask questions drawn from the knowledge base's phrasings with everyday noise (fillers, dropped
characters, dialect words), a share of out-of-scope and vague messages and a few emergencies, pick
suggestions, ask for the advisor and leave 👍/👎 — all with the service's clock set to past times.

Advisors claim, answer and close through the real advisor flow too. Only the times the
repositories stamp with the wall clock (escalation events, feedback) are moved to demo time
through storage (marked below).

`bulk_demo_data` is ONLY for the report benchmark: raw inserts of many consultations at once,
not through the service. Do not use it to demonstrate the bot.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import col, select

from bot.config import Config
from bot.services import actions
from bot.services.consultation import ConsultationService, Outcome, Sender
from knowledge.models import KnowledgeBase
from storage.clock import utcnow
from storage.db import Database
from storage.models import (
    Consultation,
    Decision,
    Escalation,
    EscalationEvent,
    Feedback,
    Villager,
)

__all__ = ["DEMO_CHANNEL", "DemoSummary", "bulk_demo_data", "generate_demo_data"]

DEMO_CHANNEL = "demo"
OUT_OF_SCOPE = (
    "明天天气怎么样",
    "村里什么时候修路",
    "化肥多少钱一包",
    "怎么申请低保",
    "医保怎么交",
    "孩子上学的事找谁",
    "快递到哪里取",
    "镇上哪里可以办身份证",
    "养猪有没有补贴",
    "手机流量怎么充",
    "村里的广场舞几点开始",
    "电费为什么这么贵",
)
VAGUE = ("你好", "在吗", "有人吗", "问个事", "？", "谢谢")
PREFIXES = ("", "", "", "请问", "我想问一下，", "你好，", "麻烦问下", "老师，")
SUFFIXES = ("", "", "", "怎么办", "？", "啊", "呢", "，谢谢")


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What the generator created."""

    villagers: int
    consultations: int
    escalations: int
    feedback: int


def _noisy(text: str, rng: random.Random) -> str:
    text = text.rstrip("？?。")
    if len(text) > 6 and rng.random() < 0.25:
        cut = rng.randrange(len(text))
        text = text[:cut] + text[cut + 1 :]
    return rng.choice(PREFIXES) + text + rng.choice(SUFFIXES)


def _local_time(day: datetime, rng: random.Random, config: Config) -> datetime:
    hour = min(22, max(6, int(rng.gauss(14, 4))))
    local = day.astimezone(config.town.tz).replace(
        hour=hour, minute=rng.randrange(60), second=rng.randrange(60), microsecond=0
    )
    return local.astimezone(UTC)


def _question(kb: KnowledgeBase, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.72:
        entry = rng.choice(kb.entries)
        return _noisy(rng.choice(entry.phrasings), rng)
    if roll < 0.87:
        return _noisy(rng.choice(OUT_OF_SCOPE), rng)
    if roll < 0.985:
        return rng.choice(VAGUE)
    if kb.triage:
        category = rng.choice(kb.triage)
        return rng.choice(category.triggers) + "，怎么办"
    return rng.choice(VAGUE)


def generate_demo_data(
    service: ConsultationService, *, villagers: int, months: int, seed: int
) -> DemoSummary:
    """Create `villagers` villagers and about 4 questions each per month, through the service."""
    rng = random.Random(seed)
    config = service.config
    if not config.villages:
        raise ValueError("no villages configured")
    now = utcnow()
    first_day = now - timedelta(days=30 * months)
    weights = [1.0 / (1 + i * 0.35) for i in range(len(config.villages))]
    saved_clock = service.clock
    events: list[tuple[datetime, int]] = []
    people: list[tuple[Sender, str]] = []
    for index in range(villagers):
        home = rng.choices(config.villages, weights=weights)[0]
        people.append((Sender(DEMO_CHANNEL, f"demo-{seed}-{index}", None), home.code))
        activity = rng.lognormvariate(0, 0.8)
        count = max(1, round(activity * 4 * months / 3))
        for _ in range(count):
            day = first_day + timedelta(days=rng.uniform(0, 30 * months))
            events.append((_local_time(day, rng, config), index))
    events.sort()
    started: set[int] = set()
    consultations = escalations = feedback = 0
    try:
        for moment, index in events:
            if moment > now:
                continue
            sender, village = people[index]
            service.clock = _fixed(moment)
            if index not in started:
                started.add(index)
                service.start(sender, village)
            outcome = service.ask(sender, _question(service.kb, rng))
            consultations += 1
            later = moment
            if outcome.decision == Decision.SUGGEST and outcome.consultation_id:
                roll = rng.random()
                later = moment + timedelta(seconds=rng.randrange(10, 120))
                service.clock = _fixed(later)
                if roll < 0.6:
                    picked = service.act(
                        sender, actions.encode(actions.PICK, outcome.consultation_id, "0")
                    )
                    consultations += 1
                    feedback += _maybe_feedback(service, sender, picked, rng, later)
                elif roll < 0.75:
                    service.act(sender, actions.encode(actions.ADVISOR, outcome.consultation_id))
            elif outcome.decision == Decision.ANSWER:
                feedback += _maybe_feedback(service, sender, outcome, rng, moment)
            if outcome.consultation_id:
                escalations += _advisor_reply(
                    service, sender, outcome.consultation_id, later, now, rng
                )
    finally:
        service.clock = saved_clock
    return DemoSummary(len(started), consultations, escalations, feedback)


def _fixed(moment: datetime) -> Any:
    return lambda: moment


def _maybe_feedback(
    service: ConsultationService,
    sender: Sender,
    outcome: Outcome,
    rng: random.Random,
    moment: datetime,
) -> int:
    if not outcome.consultation_id or rng.random() > 0.35:
        return 0
    verdict = "y" if rng.random() < 0.86 else "n"
    service.act(sender, actions.encode(actions.FEEDBACK, outcome.consultation_id, verdict))
    # The repository stamps feedback with the wall clock; move it to the demo time.
    with service.db.session() as session:
        session.execute(
            update(Feedback)
            .where(Feedback.consultation_id == outcome.consultation_id)  # type: ignore[arg-type]
            .values(created_at=moment + timedelta(minutes=2))
        )
    return 1


def _advisor_reply(
    service: ConsultationService,
    villager: Sender,
    consultation_id: int,
    moment: datetime,
    now: datetime,
    rng: random.Random,
) -> int:
    """Play the advisor's part through the real advisor flow: claim, answer, sometimes close."""
    with service.db.session() as session:
        escalation = session.exec(
            select(Escalation).where(Escalation.consultation_id == consultation_id)
        ).first()
        if escalation is None or escalation.id is None:
            return 0
        escalation_id, urgent, advisor_id = escalation.id, escalation.urgent, escalation.advisor_id
        # The repositories stamp transition events with the wall clock; move them to demo time.
        session.execute(
            update(EscalationEvent)
            .where(EscalationEvent.escalation_id == escalation_id)  # type: ignore[arg-type]
            .values(at=moment)
        )
    if advisor_id is None:
        return 1
    advisor = Sender("telegram", advisor_id, advisor_id)
    hours = rng.lognormvariate(math.log(3 if urgent else 8), 0.9)
    first = moment + timedelta(hours=hours)
    if rng.random() >= 0.9 or first >= now:
        return 1
    service.clock = _fixed(first - timedelta(minutes=rng.randrange(1, 30)))
    service.act(advisor, actions.encode(actions.ADVISOR_CARD, "claim", escalation_id))
    service.clock = _fixed(first)
    service.advisor_command(advisor, "reply", f"{escalation_id} {rng.choice(ADVISOR_ANSWERS)}")
    if rng.random() < 0.4:
        service.clock = _fixed(first + timedelta(hours=1))
        verdict = "y" if rng.random() < 0.9 else "n"
        service.act(villager, actions.encode(actions.THREAD, "fb", escalation_id, verdict))
        _backdate_feedback(service, consultation_id, first + timedelta(hours=1))
    service.act(
        villager, actions.encode(actions.THREAD, "new", escalation_id)
    )  # the demo villager's next message is new
    closed = first + timedelta(hours=rng.lognormvariate(math.log(20), 1.0))
    if rng.random() < 0.8 and closed < now:
        service.clock = _fixed(closed)
        service.advisor_command(advisor, "done", str(escalation_id))
    with service.db.session() as session:
        session.execute(
            update(EscalationEvent)
            .where(EscalationEvent.escalation_id == escalation_id)  # type: ignore[arg-type]
            .where(EscalationEvent.at > now)  # type: ignore[arg-type]
            .values(at=first)
        )
    return 1


ADVISOR_ANSWERS = (
    "您好，这个情况要看具体证据，请把相关材料拍照发给我，我看了再详细答复您。",
    "可以先找村人民调解委员会调解，调解不成再考虑起诉，我可以帮您写材料。",
    "按规定您可以申请法律援助，带身份证和相关材料到镇司法所办理。",
    "建议先和对方书面沟通并保留记录，有需要我们约个时间当面谈。",
)


def _backdate_feedback(
    service: ConsultationService, consultation_id: int, moment: datetime
) -> None:
    # The repository stamps feedback with the wall clock; move it to the demo time.
    with service.db.session() as session:
        session.execute(
            update(Feedback)
            .where(Feedback.consultation_id == consultation_id)  # type: ignore[arg-type]
            .where(Feedback.target == "advisor")  # type: ignore[arg-type]
            .values(created_at=moment)
        )


# --- benchmark only -------------------------------------------------------------------------------


def bulk_demo_data(
    db: Database,
    config: Config,
    kb: KnowledgeBase,
    *,
    consultations: int,
    months: int = 12,
    seed: int = 1,
    villagers: int = 3000,
    now: datetime | None = None,
) -> int:
    """BENCHMARK ONLY: insert `consultations` rows directly (not through the service).

    The mix of decisions, escalations and feedback follows what `generate_demo_data` produces.
    """
    rng = random.Random(seed)
    moment = now or utcnow()
    first_day = moment - timedelta(days=30 * months)
    entries = kb.entries
    codes = [v.code for v in config.villages] or ["demo"]
    advisors = {v.code: str(v.advisor_id) if v.advisor_id else None for v in config.villages}
    with db.session() as session:
        rows = [
            {
                "channel": DEMO_CHANNEL,
                "channel_user_id": f"bulk-{seed}-{i}",
                "label": f"村民{i:05d}",
                "village_code": rng.choice(codes),
                "created_at": first_day,
                "last_seen_at": first_day,
            }
            for i in range(villagers)
        ]
        session.execute(insert(Villager), rows)
        found = session.exec(
            select(Villager.id, Villager.village_code).where(
                Villager.channel == DEMO_CHANNEL,
                col(Villager.channel_user_id).startswith(f"bulk-{seed}-"),
            )
        ).all()
    people = [(int(i), code) for i, code in found if i is not None]
    decisions = (
        ["answer"] * 52 + ["suggest"] * 18 + ["escalate"] * 10 + ["clarify"] * 8 + ["urgent"] * 2
    )
    batch: list[dict[str, Any]] = []
    written = 0

    def flush() -> None:
        nonlocal batch
        if not batch:
            return
        with db.session() as session:
            result = session.execute(
                insert(Consultation).returning(
                    col(Consultation.id),
                    col(Consultation.villager_id),
                    col(Consultation.village_code),
                    col(Consultation.decision),
                    col(Consultation.created_at),
                ),
                batch,
            ).all()
            escalation_rows, feedback_rows = [], []
            for cid, vid, code, decision, created in result:
                if decision in ("escalate", "urgent"):
                    first = created + timedelta(hours=rng.lognormvariate(math.log(8), 0.9))
                    closed = first + timedelta(hours=rng.lognormvariate(math.log(20), 1.0))
                    answered = rng.random() < 0.9 and first < moment
                    done = answered and rng.random() < 0.8 and closed < moment
                    escalation_rows.append(
                        {
                            "consultation_id": cid,
                            "villager_id": vid,
                            "village_code": code,
                            "advisor_id": advisors.get(code or ""),
                            "state": "closed" if done else "answered" if answered else "open",
                            "reason": "urgent" if decision == "urgent" else "unmatched",
                            "urgent": decision == "urgent",
                            "created_at": created,
                            "first_response_at": first if answered else None,
                            "closed_at": closed if done else None,
                        }
                    )
                    if answered and rng.random() < 0.4:
                        feedback_rows.append(
                            {
                                "consultation_id": cid,
                                "villager_id": vid,
                                "target": "advisor",
                                "helpful": rng.random() < 0.9,
                                "created_at": first,
                            }
                        )
                elif decision == "answer" and rng.random() < 0.35:
                    feedback_rows.append(
                        {
                            "consultation_id": cid,
                            "villager_id": vid,
                            "target": "faq",
                            "helpful": rng.random() < 0.86,
                            "created_at": created,
                        }
                    )
            if escalation_rows:
                session.execute(insert(Escalation), escalation_rows)
            if feedback_rows:
                session.execute(insert(Feedback), feedback_rows)
        batch = []

    for _ in range(consultations):
        villager_id, code = rng.choice(people)
        decision = rng.choice(decisions)
        entry = rng.choice(entries)
        text = _noisy(rng.choice(entry.phrasings), rng)
        created = _local_time(first_day + timedelta(days=rng.uniform(0, 30 * months)), rng, config)
        batch.append(
            {
                "villager_id": villager_id,
                "channel": DEMO_CHANNEL,
                "village_code": code,
                "kind": "text",
                "raw_text": text if decision != "answer" else "",
                "normalized_text": "",
                "decision": decision,
                "faq_id": entry.id if decision == "answer" else None,
                "topic_key": entry.topic_key if decision != "clarify" else None,
                "score": {"answer": 0.8, "suggest": 0.45}.get(decision, 0.1),
                "candidates": "",
                "urgent": decision == "urgent",
                "created_at": min(created, moment - timedelta(minutes=1)),
            }
        )
        written += 1
        if len(batch) >= 5000:
            flush()
    flush()
    return written
