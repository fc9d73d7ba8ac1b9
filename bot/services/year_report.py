"""The year report in the township-report wording: one page and an XLSX.

Every figure is read from `report.build_report` over the town year, i.e. from the same JSON that
`lawbot report --year YYYY --json` prints, so the page, the workbook and the command line agree:
咨询人次 by channel (the bot's channels, hotline and walk-in), 法律意见, 矛盾纠纷排查化解 with 调结率,
满意率, 普法 pushes and offline events.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.config import Config
from bot.services import report as rp
from storage.db import Database

__all__ = ["Section", "YearReport", "build_year_report"]

Row = tuple[str, Any]


@dataclass(frozen=True, slots=True)
class Section:
    """One part of the report: a title (一、法律咨询) and its (label, value) rows."""

    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class YearReport:
    """The figures of one town year, as `lawbot report --year` computes them."""

    year: int
    report: rp.Report

    @property
    def data(self) -> dict[str, Any]:
        """The JSON document of `lawbot report` for the year."""
        return self.report.as_dict()

    @property
    def title(self) -> str:
        """Return '曹溪镇2026年度公共法律服务工作情况'."""
        return f"{self.report.town}{self.year}年度公共法律服务工作情况"

    def sections(self) -> list[Section]:
        """Return the report's parts in the township-report order."""
        d = self.data
        c, off, dis, esc = d["consultations"], d["offline"], d["disputes"], d["escalations"]
        sat = d["satisfaction"]
        pushes = d["pushes"]
        channels: list[Row] = [
            (f"其中：{rp.CHANNEL_LABELS.get(x['channel'], x['channel'])}", x["questions"])
            for x in d["by_channel"]
        ]
        return [
            Section(
                "一、法律咨询",
                (
                    ("接受群众法律咨询（人次）", c["total"]),
                    ("机器人线上咨询（人次）", c["bot"]),
                    *channels,
                    ("热线电话咨询（人次）", c["hotline"]),
                    ("来访咨询（人次）", c["walk_in"]),
                    ("机器人直接解答（人次）", d["match_rate"]["answered"]),
                    ("转村（居）法律顾问解答（件）", esc["opened"]),
                    ("法律顾问已答复（件）", esc["answered"]),
                ),
            ),
            Section(
                "二、法律意见",
                (
                    ("出具法律意见（件）", off["legal_opinion"]["records"]),
                    ("其中：为村（居）出具", off["legal_opinion"]["village"]),
                    ("其中：为镇党委政府出具", off["legal_opinion"]["town"]),
                ),
            ),
            Section(
                "三、矛盾纠纷排查化解",
                (
                    ("排查矛盾纠纷（件）", dis["registered"]),
                    ("调解成功（件）", dis["success"]),
                    ("调解未成功（件）", dis["failed"]),
                    ("转诉讼（件）", dis["litigation"]),
                    ("转信访（件）", dis["petition"]),
                    ("调处中（件）", dis["open"]),
                    ("调结率", rp.percent(dis["mediation_rate"])),
                    *((f"其中：{k['label']}（件）", k["registered"]) for k in dis["by_kind"]),
                ),
            ),
            Section(
                "四、普法宣传",
                (
                    ("普法推送（次）", len(pushes)),
                    ("推送送达（人次）", sum(int(p["sent"]) for p in pushes)),
                    ("开展线下普法活动（场）", off["publicity_event"]["records"]),
                    ("参加群众（人次）", off["publicity_event"]["attendees"]),
                    ("发放宣传资料（份）", off["publicity_event"]["materials"]),
                    ("悬挂横幅（条）", off["publicity_event"]["banners"]),
                ),
            ),
            Section(
                "五、群众满意率",
                (
                    ("机器人解答满意率", rp.percent(sat["faq"]["rate"])),
                    ("法律顾问答复满意率", rp.percent(sat["advisor"]["rate"])),
                    ("纠纷当事人满意率", rp.percent(dis["satisfaction"]["rate"])),
                ),
            ),
        ]

    def sentences(self) -> list[str]:
        """Return the summary sentences of `lawbot report` for the year."""
        return self.report.summary_sentences()

    def to_xlsx(self) -> bytes:
        """Return the workbook: the title, the summary, then every section as label / value."""
        from openpyxl import Workbook
        from openpyxl.styles import Font

        book = Workbook()
        sheet = book.active
        sheet.title = "年度报表"
        sheet.column_dimensions["A"].width = 40
        sheet.column_dimensions["B"].width = 18
        sheet.append([self.title])
        sheet["A1"].font = Font(bold=True, size=14)
        sheet.append([f"统计期间：{self.data['period']['from']} 至 {self.data['period']['to']}"])
        for section in self.sections():
            sheet.append([])
            sheet.append([section.title])
            sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True)
            for label, value in section.rows:
                sheet.append([label, value])
        sheet.append([])
        for sentence in self.sentences()[1:]:
            sheet.append([sentence])
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


def build_year_report(
    db: Database,
    config: Config,
    year: int,
    *,
    topic_names: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> YearReport:
    """Build the report of one town year (1 January to 31 December)."""
    start, end = rp.year_period(year, config.town.tz)
    built = rp.build_report(db, config, start, end, topic_names=topic_names, now=now)
    return YearReport(year, built)
