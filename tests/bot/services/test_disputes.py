"""The dispute register: opening a case (from an escalation or a record), steps, closing, the
figures 调结率 and 满意率, and who may see which case."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from bot.config import Config
from bot.services.accounts import Identity
from bot.services.disputes import DisputeError, DisputeService
from bot.services.records import RecordForbidden, RecordService
from storage.clock import ManualClock
from storage.db import Database
from storage.models import Escalation
from storage.record_models import DisputeCase, DisputeStep
from tests.storage.test_queries import build_fixture

STAFF = Identity("chen", "staff", None, None)
ADVISOR = Identity("zhang", "advisor", ("waihong",), None)
YEAR = (date(2026, 1, 1), date(2026, 12, 31))


@pytest.fixture(name="disputes")
def disputes_fixture(config: Config, db: Database, clock: ManualClock) -> DisputeService:
    return DisputeService(config, db, clock)


def _escalation_of(db: Database, village: str) -> int:
    with db.session() as session:
        row = session.exec(
            select(Escalation).where(Escalation.village_code == village).order_by(Escalation.id)
        ).first()
    assert row is not None
    assert row.id is not None
    return row.id


def _open(disputes: DisputeService, **fields: object) -> int:
    values: dict[str, object] = {
        "kind": "neighbour", "village_code": "waihong", "parties": "王某 与 李某",
        "summary": "排水沟堵塞引发争执",
    } | fields  # fmt: skip
    return disputes.open(STAFF, **values).id  # type: ignore[arg-type]


def test_a_case_opened_from_an_escalation_takes_its_village_and_masked_question(
    disputes: DisputeService, db: Database
) -> None:
    build_fixture(db)
    escalation_id = _escalation_of(db, "shaofan")
    draft = disputes.draft_from_escalation(STAFF, escalation_id)
    assert draft.village_code == "shaofan"
    assert draft.summary == "修路占了我家的地能赔多少钱"
    case = disputes.open(
        STAFF, kind="land", village_code=None, parties="村民D（电话 13812345678）与施工队",
        summary=draft.summary, mediator="调委会 刘主任", escalation_id=escalation_id,
    )  # fmt: skip
    assert (case.village, case.escalation_id, case.state) == ("邵畈村", escalation_id, "open")
    assert "13812345678" not in case.parties
    assert "[电话]" in case.parties
    with pytest.raises(DisputeError, match="已登记为纠纷"):
        disputes.open(
            STAFF, kind="land", village_code=None, parties="x", summary="y",
            escalation_id=escalation_id,
        )  # fmt: skip


def test_a_case_opened_from_a_walk_in_record(
    disputes: DisputeService, config: Config, db: Database, clock: ManualClock
) -> None:
    record = RecordService(config, db, clock).add(
        ADVISOR, kind="walk_in", village_code="waihong", summary="邻居占道堆柴 13900001111"
    )
    draft = disputes.draft_from_record(ADVISOR, record.id)
    assert draft.village_code == "waihong"
    assert "[电话]" in draft.summary
    case = disputes.open(
        ADVISOR, kind="neighbour", village_code=None, parties="甲 乙", summary=draft.summary,
        record_id=record.id,
    )  # fmt: skip
    assert (case.village_code, case.record_id) == ("waihong", record.id)


def test_steps_are_dated_and_a_closed_case_takes_no_more(
    disputes: DisputeService, db: Database
) -> None:
    case_id = _open(disputes, opened_on=date(2026, 11, 2))
    disputes.add_step(STAFF, case_id, note="上门了解情况，电话13812345678", day=date(2026, 11, 5))
    disputes.add_step(ADVISOR, case_id, note="双方面对面调解", day=date(2026, 11, 3))
    with pytest.raises(DisputeError, match="早于登记日期"):
        disputes.add_step(STAFF, case_id, note="x", day=date(2026, 11, 1))
    with pytest.raises(DisputeError, match="晚于今天"):
        disputes.add_step(STAFF, case_id, note="x", day=date(2026, 11, 21))
    disputes.close(STAFF, case_id, outcome="success", satisfaction="satisfied")
    view = disputes.get(ADVISOR, case_id)
    assert [s.day for s in view.steps] == [date(2026, 11, 3), date(2026, 11, 5)]
    assert "[电话]" in view.steps[1].note
    assert (view.state_label, view.outcome_label, view.satisfaction_label) == (
        "已结案", "调解成功", "满意",
    )  # fmt: skip
    assert view.closed_on == date(2026, 11, 20)
    with pytest.raises(DisputeError, match="已结案"):
        disputes.add_step(STAFF, case_id, note="再去一次")
    with pytest.raises(DisputeError, match="已结案"):
        disputes.close(STAFF, case_id, outcome="failed", satisfaction=None)
    with db.session() as session:
        assert len(session.exec(select(DisputeStep)).all()) == 2


@pytest.mark.parametrize(
    ("outcome", "satisfaction", "message"),
    [("won", None, "结果应为"), ("success", "happy", "满意度应为")],
)
def test_a_close_with_an_unknown_outcome_or_satisfaction_is_refused(
    disputes: DisputeService, outcome: str, satisfaction: str | None, message: str
) -> None:
    case_id = _open(disputes)
    with pytest.raises(DisputeError, match=message):
        disputes.close(STAFF, case_id, outcome=outcome, satisfaction=satisfaction)


def test_an_advisor_cannot_open_see_or_work_a_case_of_another_village(
    disputes: DisputeService, db: Database
) -> None:
    build_fixture(db)
    theirs = _open(disputes, village_code="shaofan")
    mine = _open(disputes, village_code="waihong")
    for attempt in (
        lambda: disputes.get(ADVISOR, theirs),
        lambda: disputes.add_step(ADVISOR, theirs, note="x"),
        lambda: disputes.close(ADVISOR, theirs, outcome="success", satisfaction=None),
        lambda: disputes.open(
            ADVISOR, kind="other", village_code="shaofan", parties="a", summary="b"
        ),
        lambda: disputes.draft_from_escalation(ADVISOR, _escalation_of(db, "shaofan")),
        lambda: disputes.open(
            ADVISOR,
            kind="other",
            village_code="waihong",
            parties="a",
            summary="b",
            escalation_id=_escalation_of(db, "shaofan"),
        ),
    ):
        with pytest.raises(RecordForbidden):
            attempt()
    assert [c.id for c in disputes.cases(ADVISOR)] == [mine]
    assert {c.id for c in disputes.cases(STAFF)} == {mine, theirs}
    with db.session() as session:
        assert len(session.exec(select(DisputeCase)).all()) == 2, "nothing opened by the refusals"


def test_figures_count_registered_cases_with_their_outcomes(disputes: DisputeService) -> None:
    ids = [_open(disputes, kind=k, opened_on=date(2026, 10, 1)) for k in ("land",) * 3]
    ids += [_open(disputes, kind="family", village_code="shaofan", opened_on=date(2026, 10, 2))]
    old = _open(disputes, opened_on=date(2025, 12, 31))
    disputes.close(STAFF, ids[0], outcome="success", satisfaction="satisfied")
    disputes.close(STAFF, ids[1], outcome="success", satisfaction="basic")
    disputes.close(STAFF, ids[2], outcome="litigation", satisfaction="unsatisfied")
    disputes.close(STAFF, old, outcome="success", satisfaction="satisfied")
    figures = disputes.figures(STAFF, *YEAR)
    assert (figures["registered"], figures["open"], figures["closed"]) == (4, 1, 3)
    assert (figures["success"], figures["litigation"], figures["petition"]) == (2, 1, 0)
    assert figures["mediation_rate"] == 0.5, "调结率: 2 of the 4 registered this year"
    assert figures["satisfaction"] == {"satisfied": 2, "rated": 3, "rate": 0.6667}
    assert {k["kind"]: k["registered"] for k in figures["by_kind"]} == {"land": 3, "family": 1}
    assert disputes.figures(ADVISOR, *YEAR)["registered"] == 3, "an advisor counts their villages"
