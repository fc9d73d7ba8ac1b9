"""The staff report: numbers, small-cell suppression, JSON, XLSX, CSV and charts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import typer
from openpyxl import load_workbook
from PIL import Image
from sqlmodel import select
from typer.testing import CliRunner

from bot import wiring as runtime
from bot.cli.report import register
from bot.config import Config
from bot.ops.demo import generate_demo_data
from bot.services import report as rp
from bot.services.consultation import ConsultationService
from knowledge.models import KnowledgeBase
from storage.db import Database
from storage.models import Consultation, Escalation
from tests.storage.test_queries import END, NOW, START, TZ, build_fixture


@pytest.fixture(name="report")
def report_fixture(db: Database, config: Config, kb: KnowledgeBase) -> rp.Report:
    build_fixture(db)
    return rp.build_report(
        db, config, START, END, topic_names=rp.topic_names_of(kb.topics), now=NOW
    )


def test_period_from_dates_is_inclusive_in_town_time() -> None:
    start, end = rp.period_from_dates(date(2026, 3, 1), date(2026, 4, 30), TZ)
    assert (start, end) == (START, END)
    this, _ = rp.month_period(NOW, TZ)
    last, last_end = rp.month_period(NOW, TZ, back=1)
    assert (this.month, last.month, last_end) == (4, 3, this)


def test_json_numbers_and_small_cells(report: rp.Report) -> None:
    d = json.loads(report.to_json())
    assert d["schema"] == 1
    assert d["period"] == {"from": "2026-03-01", "to": "2026-04-30"}
    assert d["questions"] == {"count": 9, "villagers": 4}
    assert d["match_rate"] == {"answered": 3, "questions": 9, "rate": 0.3333}
    assert d["escalations"]["opened"] == 4
    assert d["escalations"]["overdue"] == 1
    assert d["escalations"]["answer_rate"] == 0.75
    assert d["response_times"]["first_response"] == {
        "count": 3,
        "median_hours": 2.0,
        "p90_hours": 3.6,
    }
    # satisfaction: faq 2/3 from A, B, D (3 villagers); advisor 1/2 from 2 villagers: suppressed
    assert d["satisfaction"]["faq"] == {"helpful": 2, "rated": 3, "rate": 0.6667}
    assert d["satisfaction"]["advisor"]["rate"] == "<3"
    villages = {v["code"]: v for v in d["by_village"]}
    assert villages["waihong"]["questions"] == 7
    assert villages["waihong"]["name"] == "外洪村"
    # shaofan: one villager (D) behind 2 questions: every cell of the row shows "<3"
    assert villages["shaofan"]["questions"] == "<3"
    assert villages["shaofan"]["villagers"] == "<3"
    assert villages["shaofan"]["match_rate"] == "<3"
    topics = {t["key"]: t for t in d["by_topic"]}
    assert topics["land"]["questions"] == 3
    assert topics["land"]["name"].startswith("土地承包")
    assert topics["debt"]["questions"] == "<3"
    assert [m["month"] for m in d["by_month"]] == ["2026-03", "2026-04"]
    assert d["by_month"][0]["questions"] == 5
    assert d["by_month"][0]["by_decision"]["answer"] == 3
    advisors = {a["advisor_id"]: a for a in d["advisors"]}
    assert advisors["100000101"]["name"] == "张律师（示例）"
    assert advisors["100000101"]["escalations"] == "<3"  # 3 escalations but only A and B
    assert advisors["100000102"]["escalations"] == "<3"
    assert d["gaps"][0]["count"] == "<3"  # two villagers asked it
    assert "修路" in d["gaps"][0]["text"]
    assert d["pushes"] == []


def test_summary_is_worded_like_a_township_report(report: rp.Report) -> None:
    text = "".join(report.summary_sentences())
    assert "本期共接受群众法律咨询9人次" in text
    assert "机器人直接解答3人次（解答率33.3%）" in text
    assert "超时未答复1件" in text


def test_xlsx_sheets_and_cells(report: rp.Report, db: Database, tmp_path: Path) -> None:
    path = rp.write_xlsx(report, db, tmp_path / "ledger.xlsx")
    book = load_workbook(path)
    assert book.sheetnames[:3] == ["汇总", "分村", "法律顾问"]
    assert "台账" in book.sheetnames
    summary = [c.value for c in book["汇总"]["A"] if c.value]
    assert any("本期共接受群众法律咨询9人次" in str(v) for v in summary)
    villages = {row[0]: row for row in book["分村"].iter_rows(min_row=2, values_only=True)}
    assert villages["外洪村"][1] == 7
    assert villages["邵畈村"][1] == "<3"
    advisor_headers = [c.value for c in book["法律顾问"][1]]
    assert {"人次", "方式", "办结时长中位", "满意度"} <= set(advisor_headers)
    ledger = list(book["台账"].iter_rows(values_only=True))
    assert list(ledger[0]) == rp.LEDGER_HEADERS
    assert len(ledger) == 1 + 11
    first = ledger[1]
    assert first[0] == "2026-03-01 04:00"  # 28 Feb 20:00 UTC in town time
    assert first[1] == "邵畈村"
    assert first[3] == "机器人解答"
    waits = sorted(r[5] for r in ledger[1:] if r[5] is not None)
    assert waits == [1.0, 2.0, 4.0]
    flat = " ".join(str(v) for row in ledger for v in row)
    assert "修路" not in flat  # no question text
    assert "A" not in {r[1] for r in ledger[1:]}  # no names


def test_csv_directory(report: rp.Report, db: Database, tmp_path: Path) -> None:
    files = rp.write_csv(report, db, tmp_path / "csv")
    names = {p.name for p in files}
    assert {"summary.csv", "villages.csv", "advisors.csv", "ledger.csv"} <= names
    villages = (tmp_path / "csv" / "villages.csv").read_text(encoding="utf-8-sig")
    assert "邵畈村,<3" in villages


def test_charts_are_valid_pngs_with_a_cjk_font(
    report: rp.Report, tmp_path: Path, config: Config
) -> None:
    font = rp.cjk_font()
    villages = "".join(v.name for v in config.villages)
    assert rp.chart_text_ok(font, villages + "".join(report.topic_names.values()))
    files = rp.write_charts(report, tmp_path / "charts")
    assert {p.name for p in files} == {
        "monthly_volume.png",
        "villages.png",
        "topics.png",
        "response_times.png",
    }
    for path in files:
        with Image.open(path) as image:
            image.verify()
            assert image.format == "PNG"
            assert image.size[0] > 400


def test_missing_cjk_font_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rp, "FONT_CANDIDATES", ())
    monkeypatch.setattr(rp, "_packaged_font", lambda: "")
    monkeypatch.setenv(rp.FONT_ENV, "")
    monkeypatch.setattr("matplotlib.font_manager.findSystemFonts", lambda: [])
    with pytest.raises(rp.FontMissing, match="fonts-wqy-microhei"):
        rp.cjk_font()


def test_stats_and_gaps_messages(report: rp.Report) -> None:
    text = rp.stats_message(report, report)
    assert "咨询9人次" in text
    village = rp.village_stats_message(report, report, "waihong")
    assert "外洪村" in village
    assert "咨询7人次" in village
    assert "修路" in rp.gaps_message(report)


def test_rich_rendering(report: rp.Report) -> None:
    from rich.console import Console

    console = Console(record=True, width=160)
    rp.render_rich(report, console)
    out = console.export_text()
    assert "分村" in out
    assert "外洪村" in out


def test_demo_data_goes_through_the_service(service: ConsultationService) -> None:
    summary = generate_demo_data(service, villagers=6, months=2, seed=3)
    assert summary.villagers == 6
    assert summary.consultations > 6
    with service.db.session() as s:
        rows = s.exec(select(Consultation)).all()
        escalations = s.exec(select(Escalation)).all()
    assert len(rows) >= summary.consultations  # + choices stored by the service
    assert {r.channel for r in rows} == {"demo"}
    now = datetime.now(UTC)
    assert all(r.created_at <= now for r in rows)
    assert min(r.created_at for r in rows) < now - timedelta(days=20)
    assert all(e.created_at < now - timedelta(seconds=1) for e in escalations)
    start, end = now - timedelta(days=70), now + timedelta(days=1)
    built = rp.build_report(service.db, service.config, start, end)
    assert built.total.count > 0


def test_cli_report_json_and_xlsx(
    db: Database, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_fixture(db)
    monkeypatch.setattr(runtime, "open_database", lambda cfg, url=None, migrate=True: db)
    monkeypatch.setattr(db, "dispose", lambda: None)
    app = typer.Typer()
    app.command("noop")(lambda: None)
    register(app, lambda: config)
    runner = CliRunner()
    result = runner.invoke(app, ["report", "--from", "2026-03-01", "--to", "2026-04-30", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["questions"]["count"] == 9
    target = tmp_path / "out.xlsx"
    result = runner.invoke(
        app, ["report", "--from", "2026-03-01", "--to", "2026-04-30", "--xlsx", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert load_workbook(target)["分村"]["A2"].value == "外洪村"
    result = runner.invoke(app, ["report", "--from", "2026-13-01"])
    assert result.exit_code == 2


def test_histogram_bucket_labels() -> None:
    assert rp._bucket_labels(["<1", "<4", ">=4"]) == ["1小时内", "1–4小时", "4小时以上"]


def test_the_summary_and_the_tables_say_the_same_and_name_what_is_suppressed(
    report: rp.Report,
) -> None:
    d = report.as_dict()
    text = "".join(report.summary_sentences())
    # The summary's figures are the JSON/table figures.
    assert f"咨询{d['questions']['count']}人次" in text
    assert f"直接解答{d['match_rate']['answered']}人次" in text
    assert f"解答率{rp.percent(d['match_rate']['rate'])}" in text
    # A suppressed cell says it protects villagers, not that there were few cases.
    hidden = report.hidden
    assert "<3件" not in text
    assert rp.SUPPRESSION_NOTE.format(n=report.small_cell) in text
    from rich.console import Console

    console = Console(record=True, width=200)
    rp.render_rich(report, console)
    rendered = console.export_text()
    assert f"{hidden}人" in rendered
    assert f" {hidden} " not in rendered
