"""Statistics queries checked against hand-computed numbers on a small fixture of real rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from storage import queries as q
from storage.clock import utcnow
from storage.db import Database
from storage.models import Consultation, Escalation, Feedback, Villager

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 1, tzinfo=TZ)  # 2026-02-28 16:00 UTC
END = datetime(2026, 5, 1, tzinfo=TZ)
NOW = datetime(2026, 4, 10, tzinfo=UTC)


def T(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def build_fixture(db: Database) -> dict[str, int]:
    """Four villagers (A, B, C in waihong; D in shaofan), 14 consultations, 4 escalations.

    Questions in the period: #1 #2 #3 #5 #6 #7 #8 #9 #13 (9); answers #1 #2 #13 (3).
    March (town time): #1 #2 #3 #5 #13 (5); April: #6 (31 Mar 20:00 UTC) #7 #8 #9 (4).
    """
    ids: dict[str, int] = {}
    with db.session() as s:
        people = {}
        for name, village in (
            ("A", "waihong"),
            ("B", "waihong"),
            ("C", "waihong"),
            ("D", "shaofan"),
        ):
            v = Villager(
                channel="telegram", channel_user_id=name, label=name, village_code=village
            )
            s.add(v)
            s.flush()
            assert v.id is not None
            people[name] = v
            ids[name] = v.id

        def add(n: int, who: str, decision: str, at: datetime, **kw: object) -> Consultation:
            v = people[who]
            assert v.id is not None
            c = Consultation(
                villager_id=v.id,
                channel="telegram",
                village_code=v.village_code,
                decision=decision,
                created_at=at,
                **kw,  # type: ignore[arg-type]
            )
            s.add(c)
            s.flush()
            assert c.id is not None
            ids[f"c{n}"] = c.id
            return c

        add(14, "D", "answer", T(2, 28, 15), topic_key="land", score=0.9)  # before the period
        add(13, "D", "answer", T(2, 28, 20), topic_key="land", score=0.9)  # 1 Mar 04:00 local
        add(1, "A", "answer", T(3, 2, 1), topic_key="land", score=0.9)
        add(2, "B", "answer", T(3, 3, 1), topic_key="land", score=0.8)
        add(3, "C", "suggest", T(3, 4, 1), topic_key="debt", score=0.45, raw_text="借钱不还怎么办")
        add(
            4, "C", "choice", T(3, 4, 1, 5), topic_key="debt", score=1.0, raw_text="借钱不还怎么办"
        )
        add(
            5, "A", "suggest", T(3, 5, 1), topic_key="marriage", score=0.5, raw_text="离婚孩子归谁"
        )
        c6 = add(
            6, "D", "escalate", T(3, 31, 20), score=0.1, raw_text="修路占了我家的地能赔多少钱"
        )
        c7 = add(7, "A", "escalate", T(4, 2, 1), score=0.15, raw_text="修路占地能赔多少钱")
        c8 = add(8, "B", "urgent", T(4, 3, 1), urgent=True, raw_text="他打我")
        add(9, "C", "clarify", T(4, 4, 1), raw_text="你好")
        add(10, "A", "throttled", T(4, 5, 1))
        add(11, "A", "answer", T(5, 2, 1), topic_key="land", score=0.9)  # after the period
        add(12, "B", "follow_up", T(4, 6, 1))
        c5 = s.get(Consultation, ids["c5"])
        assert c5 is not None

        def escalate(c: Consultation, advisor: str, **kw: object) -> None:
            assert c.id is not None
            s.add(
                Escalation(
                    consultation_id=c.id,
                    villager_id=c.villager_id,
                    village_code=c.village_code,
                    advisor_id=advisor,
                    created_at=c.created_at,
                    **kw,  # type: ignore[arg-type]
                )
            )

        escalate(
            c6, "100000102", state="closed", first_response_at=T(3, 31, 22), closed_at=T(4, 1, 20)
        )
        escalate(c7, "100000101", state="answered", first_response_at=T(4, 2, 5))
        escalate(c8, "100000101", state="open", urgent=True)
        e4_at = T(3, 5, 2)
        s.add(
            Escalation(
                consultation_id=c5.id,  # type: ignore[arg-type]
                villager_id=c5.villager_id,
                village_code=c5.village_code,
                advisor_id="100000101",
                state="closed",
                created_at=e4_at,
                first_response_at=e4_at + timedelta(hours=1),
                closed_at=e4_at + timedelta(hours=24),
            )
        )
        for n, who, target, helpful in (
            (1, "A", "faq", True),
            (2, "B", "faq", False),
            (13, "D", "faq", True),
            (7, "A", "advisor", True),
            (6, "D", "advisor", False),
        ):
            s.add(
                Feedback(
                    consultation_id=ids[f"c{n}"],
                    villager_id=ids[who],
                    target=target,
                    helpful=helpful,
                )
            )
    return ids


@pytest.fixture(name="filled")
def filled_fixture(db: Database) -> Database:
    build_fixture(db)
    return db


def test_totals_and_match_rate(filled: Database) -> None:
    with filled.session() as s:
        assert q.totals(session=s, start=START, end=END) == q.Cell(None, 9, 4)
        rate = q.match_rate(session=s, start=START, end=END)
    assert (rate.numerator, rate.denominator) == (3, 9)
    assert rate.value == pytest.approx(1 / 3)


def test_counts_by_village_topic_decision_channel(filled: Database) -> None:
    with filled.session() as s:
        village = q.count_by(session=s, start=START, end=END, dimension="village")
        topic = q.count_by(session=s, start=START, end=END, dimension="topic")
        decision = q.count_by(session=s, start=START, end=END, dimension="decision")
        channel = q.count_by(session=s, start=START, end=END, dimension="channel")
        cross = q.count_cross(session=s, start=START, end=END, first="village", second="decision")
    assert village == [q.Cell("waihong", 7, 3), q.Cell("shaofan", 2, 1)]
    assert {c.key: (c.count, c.villagers) for c in topic} == {
        "land": (3, 3),
        None: (4, 4),
        "debt": (1, 1),
        "marriage": (1, 1),
    }
    assert {c.key: c.count for c in decision} == {
        "answer": 3,
        "suggest": 2,
        "escalate": 2,
        "urgent": 1,
        "clarify": 1,
    }
    assert channel == [q.Cell("telegram", 9, 4)]
    assert q.Cell("shaofan", 1, 1, key2="escalate") in cross
    assert q.Cell("waihong", 2, 2, key2="answer") in cross


def test_month_bucketing_follows_the_town_time_zone(filled: Database) -> None:
    with filled.session() as s:
        months = q.count_by_month(session=s, start=START, end=END, tz=TZ)
        split = q.count_by_month(session=s, start=START, end=END, tz=TZ, by_decision=True)
    assert months == [q.Cell("2026-03", 5, 4), q.Cell("2026-04", 4, 4)]
    assert q.Cell("2026-03", 3, 3, key2="answer") in split
    assert q.Cell("2026-04", 2, 2, key2="escalate") in split


def test_month_bounds_cover_the_period() -> None:
    bounds = q.month_bounds(START, END, TZ)
    assert [label for label, _ in bounds] == ["2026-03", "2026-04"]
    assert bounds[0][1] == datetime(2026, 3, 31, 16, tzinfo=UTC)


def test_suggestion_acceptance(filled: Database) -> None:
    with filled.session() as s:
        rate = q.suggestion_acceptance(session=s, start=START, end=END)
    assert (rate.numerator, rate.denominator) == (1, 2)


def test_escalation_counts(filled: Database) -> None:
    with filled.session() as s:
        total = q.escalation_counts(session=s, start=START, end=END, remind_hours=12, now=NOW)
        per = q.escalation_counts(
            session=s, start=START, end=END, remind_hours=12, now=NOW, by="advisor"
        )
        early = q.escalation_counts(
            session=s, start=START, end=END, remind_hours=12, now=T(4, 3, 2)
        )
    assert total == [q.EscalationCounts(None, 4, 3, 2, 1, 1, 3)]  # villagers D, A, B
    assert [(e.key, e.opened, e.overdue) for e in per] == [
        ("100000101", 3, 1),
        ("100000102", 1, 0),
    ]
    assert early[0].overdue == 0  # one hour old: not yet past the 12-hour reminder


def test_response_time_percentiles(filled: Database) -> None:
    with filled.session() as s:
        first = q.response_times(session=s, start=START, end=END, measure="first_response")
        advisor = q.response_times(
            session=s, start=START, end=END, measure="first_response", by="advisor"
        )
        village = q.response_times(
            session=s, start=START, end=END, measure="resolution", by="village"
        )
    assert first == [q.Durations(None, 3, pytest.approx(7200), pytest.approx(12960))]  # type: ignore[arg-type]
    assert advisor == [
        q.Durations("100000101", 2, pytest.approx(9000), pytest.approx(13320)),  # type: ignore[arg-type]
        q.Durations("100000102", 1, pytest.approx(7200), pytest.approx(7200)),  # type: ignore[arg-type]
    ]
    assert [(d.key, d.count, round(d.median or 0)) for d in village] == [
        ("shaofan", 1, 86400),
        ("waihong", 1, 86400),
    ]


def test_percentile_matches_percentile_cont() -> None:
    assert q.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert q.percentile([10.0], 0.9) == 10.0
    assert q.percentile([], 0.5) is None


def test_satisfaction(filled: Database) -> None:
    with filled.session() as s:
        target = dict(q.satisfaction(session=s, start=START, end=END))
        advisor = dict(q.satisfaction(session=s, start=START, end=END, by="advisor"))
    assert (target["faq"].numerator, target["faq"].denominator) == (2, 3)
    assert (target["advisor"].numerator, target["advisor"].denominator) == (1, 2)
    assert advisor["100000101"].value == 1.0
    assert advisor["100000102"].value == 0.0


def test_top_unmatched_groups_similar_questions(filled: Database) -> None:
    with filled.session() as s:
        gaps = q.top_unmatched(session=s, start=START, end=END, below=0.6)
    assert gaps[0].count == 2
    assert gaps[0].villagers == 2
    assert "修路" in gaps[0].text
    assert sum(g.count for g in gaps) == 5  # #3 #5 #6 #7 #9


def test_ledger_has_no_text_and_skips_throttled(filled: Database) -> None:
    with filled.session() as s:
        rows = list(q.ledger_rows(session=s, start=START, end=END))
    assert len(rows) == 11  # 9 questions + the choice + the follow-up
    assert rows[0].decision == "answer"
    assert rows[0].created_at == T(2, 28, 20)
    waits = {r.first_response_seconds for r in rows if r.first_response_seconds}
    assert {round(w) for w in waits} == {3600, 7200, 14400}


def test_a_choice_accepts_only_the_latest_suggestion(filled: Database) -> None:
    with filled.session() as s:
        b = s.get(Villager, 2)
        assert b is not None
        assert b.id is not None
        for minute, decision in ((0, "suggest"), (30, "suggest"), (31, "choice")):
            s.add(
                Consultation(
                    villager_id=b.id,
                    channel="telegram",
                    village_code="waihong",
                    decision=decision,
                    raw_text="宅基地能不能卖",
                    created_at=T(4, 20, 1, minute),
                )
            )
    with filled.session() as s:
        rate = q.suggestion_acceptance(session=s, start=START, end=END)
    assert (rate.numerator, rate.denominator) == (2, 4)  # #3 and the second of B's two


def test_push_stats_count_deliveries_and_clicks_per_push(db: Database) -> None:
    from datetime import UTC, datetime

    from storage.campaign_models import CampaignClick, CampaignDelivery, CampaignRun
    from storage.queries import push_stats
    from storage.repositories import get_or_create_villager

    due = datetime(2026, 12, 4, 0, 30, tzinfo=UTC)
    with db.session() as session:
        people = [
            get_or_create_villager(
                now=utcnow(), session=session, channel="telegram", channel_user_id=str(i)
            )
            for i in range(4)
        ]
        run = CampaignRun(
            campaign="constitution_day",
            push_key="constitution_day.day",
            scheduled_for=due.date(),
            due_at=due,
            text="宪法日",
        )
        session.add(run)
        session.flush()
        states = ["sent", "sent", "blocked", "failed"]
        deliveries = []
        for villager, state in zip(people, states, strict=True):
            assert villager.id is not None
            assert run.id is not None
            delivery = CampaignDelivery(
                run_id=run.id,
                villager_id=villager.id,
                chat_id=villager.channel_user_id,
                state=state,
            )
            session.add(delivery)
            deliveries.append(delivery)
        session.flush()
        session.add(CampaignClick(delivery_id=deliveries[0].id, kind="useful"))
        session.add(CampaignClick(delivery_id=deliveries[0].id, kind="unsubscribe"))
        session.add(CampaignClick(delivery_id=deliveries[1].id, kind="useful"))
    with db.session() as session:
        [stats] = push_stats(
            session=session,
            start=datetime(2026, 12, 1, tzinfo=UTC),
            end=datetime(2027, 1, 1, tzinfo=UTC),
        )
        assert (stats.targeted, stats.sent, stats.blocked, stats.failed) == (4, 2, 1, 1)
        assert (stats.useful, stats.unsubscribed) == (2, 1)
        assert (
            push_stats(
                session=session,
                start=datetime(2027, 1, 1, tzinfo=UTC),
                end=datetime(2027, 2, 1, tzinfo=UTC),
            )
            == []
        )
