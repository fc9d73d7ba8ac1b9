"""The year report: its numbers are those of `lawbot report` for the same year, on the page
sections and in the workbook, with the offline work and the dispute register included."""

from __future__ import annotations

import io
import json
from datetime import date
from typing import Any

import pytest
import typer
from openpyxl import load_workbook
from typer.testing import CliRunner

from bot.cli.report import register
from bot.config import Config
from bot.services import report as rp
from bot.services.accounts import Identity
from bot.services.disputes import DisputeService
from bot.services.records import RecordService
from bot.services.year_report import YearReport, build_year_report
from storage.clock import ManualClock
from storage.db import Database
from tests.storage.test_queries import build_fixture

STAFF = Identity("chen", "staff", None, None)
SAME = ("questions", "match_rate", "by_channel", "consultations", "offline", "disputes", "pushes")


def _offline_year(config: Config, db: Database, clock: ManualClock) -> None:
    records = RecordService(config, db, clock)
    records.add(STAFF, kind="hotline", summary="问欠薪", day=date(2026, 1, 1))
    records.add(STAFF, kind="hotline", summary="问继承", day=date(2026, 6, 3))
    records.add(STAFF, kind="walk_in", summary="一家人问宅基地", people=3, day=date(2026, 7, 1))
    records.add(STAFF, kind="walk_in", summary="去年的来访", day=date(2025, 12, 31))
    records.add(STAFF, kind="legal_opinion", opinion_for="town", summary="合同审查")
    records.add(
        STAFF, kind="legal_opinion", opinion_for="village", village_code="waihong",
        summary="村规民约合法性审查",
    )  # fmt: skip
    records.add(
        STAFF, kind="publicity_event", place="曹溪镇集市", event_kind="集中宣传",
        materials=500, banners=3, attendees=200, day=date(2026, 4, 15),
    )  # fmt: skip
    disputes = DisputeService(config, db, clock)
    for kind, outcome, satisfaction in (
        ("land", "success", "satisfied"),
        ("family", "success", None),
        ("neighbour", "petition", "unsatisfied"),
        ("wages", None, None),
    ):
        case = disputes.open(
            STAFF, kind=kind, village_code="waihong", parties="甲 乙", summary="纠纷",
            opened_on=date(2026, 9, 1),
        )  # fmt: skip
        if outcome:
            disputes.close(STAFF, case.id, outcome=outcome, satisfaction=satisfaction)


@pytest.fixture(name="year")
def year_fixture(config: Config, db: Database, clock: ManualClock) -> YearReport:
    build_fixture(db)
    _offline_year(config, db, clock)
    return build_year_report(db, config, 2026, now=clock())


def _rows(year: YearReport) -> dict[str, Any]:
    return {label: value for s in year.sections() for label, value in s.rows}


def test_the_year_counts_offline_work_and_disputes_by_their_town_dates(year: YearReport) -> None:
    d = year.data
    assert d["period"] == {"from": "2026-01-01", "to": "2026-12-31"}
    assert d["consultations"] == {"bot": 11, "hotline": 2, "walk_in": 3, "total": 16}
    assert d["offline"]["legal_opinion"] == {"records": 2, "village": 1, "town": 1}
    assert d["offline"]["publicity_event"] == {
        "records": 1, "attendees": 200, "materials": 500, "banners": 3,
    }  # fmt: skip
    rows = _rows(year)
    assert rows["接受群众法律咨询（人次）"] == 16
    assert rows["热线电话咨询（人次）"] == 2
    assert rows["来访咨询（人次）"] == 3
    assert rows["其中：Telegram 线上"] == 11
    assert rows["出具法律意见（件）"] == 2
    assert rows["排查矛盾纠纷（件）"] == 4
    assert rows["调解成功（件）"] == 2
    assert rows["转信访（件）"] == 1
    assert rows["调处中（件）"] == 1
    assert rows["调结率"] == "50.0%"
    assert rows["纠纷当事人满意率"] == "50.0%"
    assert rows["开展线下普法活动（场）"] == 1
    assert rows["发放宣传资料（份）"] == 500
    text = "".join(year.sentences())
    assert "热线电话咨询2人次、来访咨询3人次" in text
    assert "合计接受法律咨询16人次" in text
    assert "排查矛盾纠纷4件，调解成功2件（调结率50.0%）" in text


def test_the_workbook_holds_the_same_rows_as_the_page(year: YearReport) -> None:
    sheet = load_workbook(io.BytesIO(year.to_xlsx()))["年度报表"]
    cells = {row[0]: row[1] for row in sheet.iter_rows(values_only=True) if row and row[0]}
    assert cells[year.title] is None
    for label, value in _rows(year).items():
        assert cells[label] == value, label


def test_the_year_report_matches_lawbot_report_for_the_same_year(
    year: YearReport, config: Config, db: Database
) -> None:
    on_db = config.model_copy(
        update={"database": config.database.model_copy(update={"url": db.url})}
    )
    app = typer.Typer()
    app.command("noop")(lambda: None)
    register(app, lambda: on_db)
    runner = CliRunner()
    by_year = runner.invoke(app, ["report", "--year", "2026", "--json"])
    assert by_year.exit_code == 0, by_year.output
    by_dates = runner.invoke(
        app, ["report", "--from", "2026-01-01", "--to", "2026-12-31", "--json"]
    )
    assert by_dates.exit_code == 0, by_dates.output
    for output in (by_year.stdout, by_dates.stdout):
        cli = json.loads(output)
        assert cli["period"] == year.data["period"]
        for key in SAME:
            assert cli[key] == year.data[key], key
    mixed = runner.invoke(app, ["report", "--year", "2026", "--from", "2026-01-01"])
    assert mixed.exit_code == 2


def test_an_existing_report_key_keeps_its_shape(year: YearReport, config: Config) -> None:
    start, end = rp.year_period(2026, config.town.tz)
    assert (start.isoformat(), end.isoformat()) == (
        "2026-01-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00",
    )  # fmt: skip
    assert year.data["questions"] == {"count": 11, "villagers": 4}, "February to May, all of 2026"
    assert year.data["schema"] == 1
