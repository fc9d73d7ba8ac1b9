"""Offline work records: masking, the kinds and their fields, and who may record what."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from bot.config import Config
from bot.services.accounts import Identity
from bot.services.records import RecordError, RecordForbidden, RecordService
from storage.clock import ManualClock
from storage.console_models import AuditEntry
from storage.db import Database
from storage.record_models import OfflineRecord

STAFF = Identity("chen", "staff", None, None)
ADVISOR = Identity("zhang", "advisor", ("waihong",), None)
TODAY = date(2026, 11, 20)  # the clock fixture's morning, town time


@pytest.fixture(name="records")
def records_fixture(config: Config, db: Database, clock: ManualClock) -> RecordService:
    return RecordService(config, db, clock)


def test_a_hotline_call_is_stored_with_its_numbers_masked_and_audited(
    records: RecordService, db: Database
) -> None:
    line = records.add(
        STAFF, kind="hotline", village_code="shaofan", topic="wages",
        summary="张三来电 13812345678，身份证 362329199001011234，问欠薪\x1b[31m",
    )  # fmt: skip
    assert line.day == TODAY, "the date defaults to today in the town"
    assert line.people == 1
    with db.session() as session:
        stored = session.exec(select(OfflineRecord)).one()
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "record.add")).one()
    assert "13812345678" not in stored.summary
    assert "362329199001011234" not in stored.summary
    assert "[电话]" in stored.summary
    assert "[身份证号]" in stored.summary
    assert "\x1b" not in stored.summary
    assert audit.actor == "chen"
    assert audit.target == str(line.id)


def test_each_kind_keeps_only_its_own_fields(records: RecordService) -> None:
    walk_in = records.add(
        STAFF, kind="walk_in", summary="一家三口来问宅基地", people=3, materials=9, banners=2
    )
    assert (walk_in.people, walk_in.materials, walk_in.banners) == (3, 0, 0)
    opinion = records.add(
        STAFF, kind="legal_opinion", opinion_for="town", summary="审查镇里的土地流转合同",
        people=4,
    )  # fmt: skip
    assert (opinion.opinion_for, opinion.people, opinion.village) == ("town", 0, "曹溪镇")
    event = records.add(
        STAFF, kind="publicity_event", village_code="waihong", place="外洪村文化广场",
        event_kind="集中宣传", materials=300, banners=2, attendees=120, people=5,
    )  # fmt: skip
    assert (event.people, event.materials, event.banners, event.attendees) == (0, 300, 2, 120)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "fax"}, "没有这种记录类型"),
        ({"kind": "hotline", "summary": ""}, "咨询内容"),
        ({"kind": "hotline", "summary": "x", "people": 0}, "至少为 1"),
        ({"kind": "walk_in", "summary": "x", "day": date(2026, 11, 21)}, "晚于今天"),
        ({"kind": "walk_in", "summary": "x", "village_code": "atlantis"}, "没有这个村"),
        ({"kind": "legal_opinion", "summary": "x", "opinion_for": ""}, "为村（居）还是为镇"),
        ({"kind": "legal_opinion", "summary": "x", "opinion_for": "village"}, "要选择村"),
        ({"kind": "publicity_event", "event_kind": "集中宣传"}, "地点"),
        ({"kind": "publicity_event", "place": "广场", "event_kind": "跳舞"}, "活动形式"),
        (
            {"kind": "publicity_event", "place": "广场", "event_kind": "其他", "banners": -1},
            "横幅",
        ),
    ],
)
def test_an_incomplete_record_is_refused_with_the_reason(
    records: RecordService, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(RecordError, match=message):
        records.add(STAFF, **fields)  # type: ignore[arg-type]


def test_an_advisor_records_and_sees_only_their_villages(records: RecordService) -> None:
    mine = records.add(ADVISOR, kind="walk_in", village_code="waihong", summary="问土地承包")
    other = records.add(STAFF, kind="walk_in", village_code="shaofan", summary="问离婚")
    town = records.add(STAFF, kind="hotline", summary="问继承")
    with pytest.raises(RecordForbidden):
        records.add(ADVISOR, kind="walk_in", village_code="shaofan", summary="问离婚")
    with pytest.raises(RecordForbidden):
        records.add(ADVISOR, kind="hotline", summary="不分村的热线")
    with pytest.raises(RecordForbidden):
        records.get(ADVISOR, other.id)
    with pytest.raises(RecordForbidden):
        records.page(ADVISOR, village="shaofan")
    assert [r.id for r in records.page(ADVISOR).lines] == [mine.id]
    assert {r.id for r in records.page(STAFF).lines} == {mine.id, other.id, town.id}


def test_the_list_filters_by_kind_village_and_inclusive_dates(records: RecordService) -> None:
    first = records.add(STAFF, kind="hotline", summary="a", day=date(2026, 3, 1))
    records.add(STAFF, kind="walk_in", summary="b", day=date(2026, 3, 15), village_code="waihong")
    last = records.add(STAFF, kind="hotline", summary="c", day=date(2026, 3, 31))
    records.add(STAFF, kind="hotline", summary="d", day=date(2026, 4, 1))
    march = records.page(STAFF, kind="hotline", first=date(2026, 3, 1), last=date(2026, 3, 31))
    assert march.total == 2
    assert [r.id for r in march.lines] == [last.id, first.id], "newest first"
    assert records.page(STAFF, village="waihong").total == 1
    page = records.page(STAFF, offset=1, limit=2)
    assert page.total == 4
    assert len(page.lines) == 2
