"""The consultation ledger (台账) as the console shows and exports it: filtered, paginated,
labelled in Chinese, question texts masked as in every export."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.services.privacy import mask_numbers
from bot.services.report import CHANNEL_LABELS, DECISION_LABELS, stream_rows
from storage import queries as q
from storage.db import Database

__all__ = ["HEADERS", "LedgerLine", "LedgerPage", "export_csv", "export_xlsx", "ledger_page"]

HEADERS = (
    "编号",
    "时间",
    "村",
    "主题",
    "处理方式",
    "渠道",
    "问题（已遮蔽号码）",
    "法律顾问",
    "首次答复（小时）",
)
TEXT_CHARS = 200
EXPORT_BATCH = 2000
SHEET = "台账"


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """One shown line."""

    id: int
    when: str
    village: str
    topic: str
    decision: str
    channel: str
    text: str
    advisor: str
    first_response_hours: float | None

    def cells(self) -> list[object]:
        """The line as export cells, in `HEADERS` order."""
        return [
            self.id, self.when, self.village, self.topic, self.decision, self.channel,
            self.text, self.advisor, self.first_response_hours,
        ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class LedgerPage:
    """One page of the filtered ledger and the total number of lines."""

    total: int
    lines: list[LedgerLine]


def _line(
    row: q.ConsoleRow, config: Config, topics: Mapping[str, str], tz: ZoneInfo
) -> LedgerLine:
    village = config.village(row.village_code)
    advisor = next(
        (v.advisor_name or v.name for v in config.villages if str(v.advisor_id) == row.advisor_id),
        config.justice_office.name if row.advisor_id else "",
    )
    local = row.created_at.astimezone(tz)
    return LedgerLine(
        id=row.id,
        when=f"{local:%Y-%m-%d %H:%M}",
        village=village.name if village else (row.village_code or ""),
        topic=topics.get(row.topic_key or "", row.topic_key or ""),
        decision=DECISION_LABELS.get(row.decision, row.decision),
        channel=CHANNEL_LABELS.get(row.channel, row.channel),
        text=mask_numbers(row.text)[:TEXT_CHARS],
        advisor=advisor,
        first_response_hours=None
        if row.first_response_seconds is None
        else round(row.first_response_seconds / 3600, 2),
    )


def ledger_page(
    db: Database,
    config: Config,
    filter: q.LedgerFilter,
    topics: Mapping[str, str],
    *,
    offset: int = 0,
    limit: int = 50,
) -> LedgerPage:
    """One page of the filtered ledger, newest first."""
    with db.session() as session:
        total, rows = q.console_ledger(session=session, filter=filter, offset=offset, limit=limit)
    tz = config.town.tz
    return LedgerPage(total, [_line(r, config, topics, tz) for r in rows])


def _all_lines(
    db: Database, config: Config, filter: q.LedgerFilter, topics: Mapping[str, str]
) -> Iterator[LedgerLine]:
    """Every line of the filter, newest first: one streamed query in one session."""
    tz = config.town.tz
    with db.session() as session:
        for row in q.console_ledger_rows(session=session, filter=filter, batch=EXPORT_BATCH):
            yield _line(row, config, topics, tz)


def export_csv(
    db: Database, config: Config, filter: q.LedgerFilter, topics: Mapping[str, str]
) -> bytes:
    """Every line of the filter as UTF-8 CSV with a BOM (so Excel reads the Chinese)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    for line in _all_lines(db, config, filter, topics):
        writer.writerow(["" if c is None else c for c in line.cells()])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def export_xlsx(
    db: Database, config: Config, filter: q.LedgerFilter, topics: Mapping[str, str]
) -> bytes:
    """Every line of the filter as one XLSX sheet.

    openpyxl writes the workbook and the header row; the lines are streamed into the sheet as
    row XML (`report.stream_rows`: openpyxl's per-cell objects cost ~1 s per 10,000 lines).
    """
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(SHEET)
    sheet.append(list(HEADERS))
    with tempfile.TemporaryDirectory(prefix="lawbot-ledger-") as scratch:
        path = Path(scratch) / "ledger.xlsx"
        book.save(path)
        stream_rows(path, SHEET, (line.cells() for line in _all_lines(db, config, filter, topics)))
        return path.read_bytes()
