"""Staff statistics for a period: one `Report`, rendered as rich tables, JSON, XLSX, CSV, PNG.

`build_report(db, config, start, end)` runs the aggregates of `storage.queries`; every renderer
works from `Report.as_dict()`, where small-cell suppression has already been applied: any cell
counting fewer than `[privacy] small_cell` distinct villagers is the string "<N" (e.g. "<3").

JSON (`lawbot report --json`), stable keys — other tools read them; add keys, never rename:

    schema                 1
    town                   town name
    period                 {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}  (town dates, `to` inclusive)
    generated_at           ISO 8601 UTC
    small_cell             N; a suppressed count or rate is the string "<N"
    questions              {"count", "villagers"}       (see storage.queries: what is a question)
    match_rate             {"answered", "questions", "rate"}          rate: 0..1 or null
    suggestion_acceptance  {"accepted", "suggestions", "rate"}
    escalations            {"opened", "answered", "closed", "overdue", "urgent", "answer_rate"}
    response_times         {"first_response"|"resolution": {"count", "median_hours", "p90_hours"}}
    satisfaction           {"faq"|"advisor": {"helpful", "rated", "rate"}}
    by_village             [{"code", "name", "questions", "villagers", "answered", "match_rate",
                             "escalated", "overdue", "first_response_median_hours",
                             "advisor_satisfaction"}]
    by_topic               [{"key", "name", "questions", "villagers", "share"}]
    by_decision            [{"decision", "label", "questions", "villagers"}]
    by_channel             [{"channel", "questions", "villagers"}]
    by_month               [{"month": "YYYY-MM", "questions", "villagers",
                             "by_decision": {decision: count}}]
    advisors               [{"advisor_id", "name", "villages", "escalations", "channels",
                             "answered", "first_response": {...}, "resolution": {...},
                             "satisfaction"}]
    response_histogram     [{"bucket": "<1" | "<4" | ... | ">=48" (hours), "count"}]
    gaps                   [{"text", "count", "villagers", "examples"}]  (numbers masked)
    pushes                 [{"campaign", "push", "due_at", "targeted", "sent", "failed", "blocked",
                             "useful", "unsubscribed"}]  (publicity pushes due in the period)
    consultations          {"bot", "hotline", "walk_in", "total"}  咨询人次 of every channel: the
                             bot's questions plus offline hotline and walk-in 人次 (total "<N" when
                             the bot's count is suppressed)
    offline                {"hotline"|"walk_in": {"records", "people"},
                            "legal_opinion": {"records", "village", "town"},
                            "publicity_event": {"records", "attendees", "materials", "banners"}}
                             offline work recorded in the console, by its town date
    disputes               {"registered", "open", "closed", "success", "failed", "litigation",
                            "petition", "mediation_rate", "satisfaction": {"satisfied", "rated",
                            "rate"}, "by_kind": [{"kind", "label", "registered", "success"}],
                            "open_now"}  cases registered (排查) in the period, outcomes as of now;
                             mediation_rate 调结率 = success / registered; open_now: open today

Offline records and dispute cases are staff-recorded work without villager identities: their
counts are published as they are (no small-cell suppression), their texts are stored masked.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from bot.config import Config
from bot.services.disputes import figures_dict
from bot.services.privacy import mask_numbers
from bot.texts import (
    GAPS_HEADER,
    GAPS_LINE,
    GAPS_NONE,
    NOT_AVAILABLE,
    STATS_HEADER,
    STATS_LAST_MONTH,
    STATS_LINE,
    STATS_THIS_MONTH,
    STATS_VILLAGE_LINE,
)
from knowledge.matcher import default_thresholds
from storage import queries as q
from storage import record_models as rm
from storage.clock import utcnow
from storage.db import Database
from storage.models import Decision

__all__ = [
    "DASHBOARD_SECTIONS",
    "DECISION_LABELS",
    "SECTIONS",
    "FontMissing",
    "Report",
    "build_report",
    "cjk_font",
    "load_topic_names",
    "month_period",
    "period_days",
    "period_from_dates",
    "render_rich",
    "stream_rows",
    "write_charts",
    "write_csv",
    "write_xlsx",
    "year_period",
]

logger = logging.getLogger(__name__)

SUPPRESSION_NOTE = (
    "注：涉及村民不足{n}人的数字不公布，表中写作“<{n}人”（指人数少于{n}，不是件数少于{n}）。"
)

DECISION_LABELS: dict[str, str] = {
    "answer": "机器人解答",
    "confirm": "解答并确认",
    "suggest": "推荐相近问题",
    "escalate": "转法律顾问",
    "clarify": "请补充说明",
    "urgent": "紧急求助",
    "choice": "选择推荐问题",
    "follow_up": "追问顾问",
    "unsupported": "非文字消息",
    "throttled": "过快（等待处理）",
    "released": "限速后已处理",
}
CHANNEL_LABELS = {
    "telegram": "Telegram 线上",
    "console": "终端",
    "wechat": "微信",
    "http": "镇App接口",
    "web": "网页聊天",
    "demo": "演示数据",
}
HISTOGRAM_EDGES_HOURS = (1.0, 4.0, 12.0, 24.0, 48.0)

Value = int | float | str | None


# --- periods --------------------------------------------------------------------------------------


def month_period(moment: datetime, tz: ZoneInfo, *, back: int = 0) -> tuple[datetime, datetime]:
    """Return [first day, first day of next month) of the town-time month `back` months ago."""
    local = moment.astimezone(tz)
    index = local.year * 12 + local.month - 1 - back
    start = datetime(index // 12, index % 12 + 1, 1, tzinfo=tz)
    index += 1
    end = datetime(index // 12, index % 12 + 1, 1, tzinfo=tz)
    return start, end


def period_from_dates(
    first: date | None, last: date | None, tz: ZoneInfo, *, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """Turn town dates (both inclusive) into [start, end); defaults: the current month."""
    default_start, default_end = month_period(now or utcnow(), tz)
    start = datetime(first.year, first.month, first.day, tzinfo=tz) if first else default_start
    end = (
        datetime(last.year, last.month, last.day, tzinfo=tz) + timedelta(days=1)
        if last
        else default_end
    )
    if end <= start:
        raise ValueError("the end date is before the start date")
    return start, end


def period_days(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[date, date]:
    """Return the first and last town dates (both inclusive) of [start, end)."""
    return start.astimezone(tz).date(), (end.astimezone(tz) - timedelta(days=1)).date()


def year_period(year: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Return [1 January, 1 January of the next year) of a town year."""
    return datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)


# --- the report -----------------------------------------------------------------------------------


@dataclass
class Report:
    """Everything staff see for one period; raw numbers plus what suppression needs."""

    town: str
    start: datetime
    end: datetime
    tz: ZoneInfo
    small_cell: int
    generated_at: datetime
    village_names: dict[str, str]
    topic_names: dict[str, str]
    advisor_names: dict[str, tuple[str, tuple[str, ...]]]
    total: q.Cell
    match: q.Rate
    acceptance: q.Rate
    escalations: q.EscalationCounts
    first_response: q.Durations | None
    resolution: q.Durations | None
    satisfaction: dict[str | None, q.Rate]
    by_village: list[q.Cell]
    village_decisions: list[q.Cell]
    village_escalations: list[q.EscalationCounts]
    village_first_response: list[q.Durations]
    village_satisfaction: dict[str | None, q.Rate]
    by_topic: list[q.Cell]
    by_decision: list[q.Cell]
    by_channel: list[q.Cell]
    by_month: list[q.Cell]
    month_decisions: list[q.Cell]
    advisor_escalations: list[q.EscalationCounts]
    advisor_first_response: list[q.Durations]
    advisor_resolution: list[q.Durations]
    advisor_satisfaction: dict[str | None, q.Rate]
    advisor_channels: dict[str | None, list[str]]
    histogram: list[q.Cell]
    gaps: list[q.Gap]
    pushes: list[q.PushStats] = field(default_factory=list)
    offline: dict[str, rm.OfflineCounts] = field(default_factory=dict)
    disputes: list[rm.DisputeCounts] = field(default_factory=list)
    open_disputes: int = 0
    _dict: dict[str, Any] | None = field(default=None, repr=False)

    # --- suppression ------------------------------------------------------------------------

    @property
    def hidden(self) -> str:
        """Return what a suppressed cell shows: "<N"."""
        return f"<{self.small_cell}"

    def count(self, count: int, villagers: int) -> int | str:
        """Return the count, or "<N" when fewer than N distinct villagers are behind it."""
        return self.hidden if 0 < villagers < self.small_cell else count

    def rate(self, rate: q.Rate | None) -> float | str | None:
        """Return the rate rounded to 4 places, "<N" for a small cell, None without data."""
        if rate is None or rate.value is None:
            return None
        if rate.villagers < self.small_cell:
            return self.hidden
        return round(rate.value, 4)

    def hours(self, seconds: float | None, villagers: int) -> float | str | None:
        """Return a duration in hours (2 places), "<N" for a small cell."""
        if seconds is None:
            return None
        if villagers < self.small_cell:
            return self.hidden
        return round(seconds / 3600, 2)

    @property
    def period_label(self) -> str:
        """Return '2026年3月1日至2026年3月31日' (town dates, end inclusive)."""
        first = self.start.astimezone(self.tz).date()
        last = (self.end.astimezone(self.tz) - timedelta(days=1)).date()
        return (
            f"{first.year}年{first.month}月{first.day}日至{last.year}年{last.month}月{last.day}日"
        )

    # --- the suppressed view every export uses ---------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON document (see the module docstring), suppression applied."""
        if self._dict is None:
            self._dict = self._build_dict()
        return self._dict

    def _build_dict(self) -> dict[str, Any]:
        esc = self.escalations
        esc_villagers = esc.villagers
        answer_rate = q.Rate(esc.answered, esc.opened, esc_villagers)
        decisions: dict[str | None, dict[str | None, q.Cell]] = {}
        for cell in self.village_decisions:
            decisions.setdefault(cell.key, {})[cell.key2] = cell
        village_esc = {e.key: e for e in self.village_escalations}
        village_first = {d.key: d for d in self.village_first_response}
        by_village = []
        for cell in self.by_village:
            mine = decisions.get(cell.key, {})
            answered = mine.get("answer")
            escalated = village_esc.get(cell.key)
            first = village_first.get(cell.key)
            by_village.append(
                {
                    "code": cell.key,
                    "name": self.village_names.get(cell.key or "", cell.key or "未选择村"),
                    "questions": self.count(cell.count, cell.villagers),
                    "villagers": self.count(cell.villagers, cell.villagers),
                    "answered": self.count(answered.count, answered.villagers) if answered else 0,
                    "match_rate": self.rate(
                        q.Rate(answered.count if answered else 0, cell.count, cell.villagers)
                    ),
                    "escalated": self.count(escalated.opened, escalated.villagers)
                    if escalated
                    else 0,
                    "overdue": self.count(escalated.overdue, escalated.villagers)
                    if escalated
                    else 0,
                    "first_response_median_hours": self.hours(
                        first.median if first else None,
                        escalated.villagers if escalated else 0,
                    ),
                    "advisor_satisfaction": self.rate(self.village_satisfaction.get(cell.key)),
                }
            )
        month_split: dict[str | None, dict[str, int | str]] = {}
        for cell in self.month_decisions:
            month_split.setdefault(cell.key, {})[cell.key2 or ""] = self.count(
                cell.count, cell.villagers
            )
        advisors = []
        first_by = {d.key: d for d in self.advisor_first_response}
        resolution_by = {d.key: d for d in self.advisor_resolution}
        for e in self.advisor_escalations:
            name, villages = self.advisor_names.get(e.key or "", ("未指定顾问", ()))
            advisors.append(
                {
                    "advisor_id": e.key,
                    "name": name,
                    "villages": list(villages),
                    "escalations": self.count(e.opened, e.villagers),
                    "answered": self.count(e.answered, e.villagers),
                    "channels": [
                        CHANNEL_LABELS.get(c, c) for c in self.advisor_channels.get(e.key, [])
                    ],
                    "first_response": self._durations(first_by.get(e.key), e.villagers),
                    "resolution": self._durations(resolution_by.get(e.key), e.villagers),
                    "satisfaction": self.rate(self.advisor_satisfaction.get(e.key)),
                }
            )
        total_questions = self.total.count
        return {
            "schema": 1,
            "town": self.town,
            "period": {
                "from": self.start.astimezone(self.tz).date().isoformat(),
                "to": (self.end.astimezone(self.tz) - timedelta(days=1)).date().isoformat(),
            },
            "generated_at": self.generated_at.astimezone(UTC).isoformat(timespec="seconds"),
            "small_cell": self.small_cell,
            "questions": {
                "count": self.count(self.total.count, self.total.villagers),
                "villagers": self.count(self.total.villagers, self.total.villagers),
            },
            "match_rate": {
                "answered": self.count(self.match.numerator, self.match.villagers),
                "questions": self.count(self.match.denominator, self.match.villagers),
                "rate": self.rate(self.match),
            },
            "suggestion_acceptance": {
                "accepted": self.count(self.acceptance.numerator, self.acceptance.villagers),
                "suggestions": self.count(self.acceptance.denominator, self.acceptance.villagers),
                "rate": self.rate(self.acceptance),
            },
            "escalations": {
                "opened": self.count(esc.opened, esc_villagers),
                "answered": self.count(esc.answered, esc_villagers),
                "closed": self.count(esc.closed, esc_villagers),
                "overdue": self.count(esc.overdue, esc_villagers),
                "urgent": self.count(esc.urgent, esc_villagers),
                "answer_rate": self.rate(answer_rate),
            },
            "response_times": {
                "first_response": self._durations(self.first_response, esc_villagers),
                "resolution": self._durations(self.resolution, esc_villagers),
            },
            "satisfaction": {
                target: self._satisfaction(self.satisfaction.get(target))
                for target in ("faq", "advisor")
            },
            "by_village": by_village,
            "by_topic": [
                {
                    "key": c.key,
                    "name": self.topic_names.get(c.key or "", c.key or "未归类"),
                    "questions": self.count(c.count, c.villagers),
                    "villagers": self.count(c.villagers, c.villagers),
                    "share": self.rate(q.Rate(c.count, total_questions, c.villagers)),
                }
                for c in self.by_topic
            ],
            "by_decision": [
                {
                    "decision": c.key,
                    "label": DECISION_LABELS.get(c.key or "", c.key),
                    "questions": self.count(c.count, c.villagers),
                    "villagers": self.count(c.villagers, c.villagers),
                }
                for c in self.by_decision
            ],
            "by_channel": [
                {
                    "channel": c.key,
                    "questions": self.count(c.count, c.villagers),
                    "villagers": self.count(c.villagers, c.villagers),
                }
                for c in self.by_channel
            ],
            "by_month": [
                {
                    "month": c.key,
                    "questions": self.count(c.count, c.villagers),
                    "villagers": self.count(c.villagers, c.villagers),
                    "by_decision": month_split.get(c.key, {}),
                }
                for c in self.by_month
            ],
            "advisors": advisors,
            "response_histogram": [
                {"bucket": c.key, "count": self.count(c.count, c.villagers)}
                for c in self.histogram
            ],
            "gaps": [
                {
                    "text": mask_numbers(g.text),
                    "count": self.count(g.count, g.villagers),
                    "villagers": self.count(g.villagers, g.villagers),
                    "examples": [mask_numbers(x) for x in g.examples],
                }
                for g in self.gaps
            ],
            "pushes": [
                {
                    "campaign": p.campaign,
                    "push": p.push_key,
                    "due_at": p.due_at.isoformat(),
                    "targeted": p.targeted,
                    "sent": p.sent,
                    "failed": p.failed,
                    "blocked": p.blocked,
                    "useful": p.useful,
                    "unsubscribed": p.unsubscribed,
                }
                for p in self.pushes
            ],
            **self._offline_sections(),
        }

    def _offline_sections(self) -> dict[str, Any]:
        """The `consultations`, `offline` and `disputes` sections (offline work, not suppressed)."""

        def counts(kind: str) -> rm.OfflineCounts:
            return self.offline.get(kind) or rm.OfflineCounts(kind, 0, 0, 0, 0, 0, 0, 0)

        hotline, walk_in = counts("hotline"), counts("walk_in")
        opinion, event = counts("legal_opinion"), counts("publicity_event")
        bot = self.count(self.total.count, self.total.villagers)
        disputes = figures_dict(self.disputes or [rm.DisputeCounts(None, 0, 0, {}, {})])
        return {
            "consultations": {
                "bot": bot,
                "hotline": hotline.people,
                "walk_in": walk_in.people,
                "total": bot + hotline.people + walk_in.people if isinstance(bot, int) else bot,
            },
            "offline": {
                "hotline": {"records": hotline.records, "people": hotline.people},
                "walk_in": {"records": walk_in.records, "people": walk_in.people},
                "legal_opinion": {
                    "records": opinion.records,
                    "village": opinion.for_village,
                    "town": opinion.for_town,
                },
                "publicity_event": {
                    "records": event.records,
                    "attendees": event.attendees,
                    "materials": event.materials,
                    "banners": event.banners,
                },
            },
            "disputes": disputes | {"open_now": self.open_disputes},
        }

    def _durations(self, d: q.Durations | None, villagers: int) -> dict[str, Value]:
        if d is None:
            return {"count": 0, "median_hours": None, "p90_hours": None}
        return {
            "count": self.count(d.count, villagers),
            "median_hours": self.hours(d.median, villagers),
            "p90_hours": self.hours(d.p90, villagers),
        }

    def _satisfaction(self, rate: q.Rate | None) -> dict[str, Value]:
        if rate is None:
            return {"helpful": 0, "rated": 0, "rate": None}
        return {
            "helpful": self.count(rate.numerator, rate.villagers),
            "rated": self.count(rate.denominator, rate.villagers),
            "rate": self.rate(rate),
        }

    def to_json(self) -> str:
        """Return the JSON document, keys in a stable order."""
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2)

    # --- the township-report wording --------------------------------------------------------

    def summary_sentences(self) -> list[str]:
        """Return the summary in the wording of a township rule-of-law report.

        A suppressed count reads 若干件（涉及村民不足N人，不公布）, never "<N件": the protection is of
        villagers, not a bound on the count.
        """
        d = self.as_dict()
        esc, times, sat = d["escalations"], d["response_times"], d["satisfaction"]

        def n(value: Value, unit: str) -> str:
            if isinstance(value, str):
                return f"若干{unit}（涉及村民不足{self.small_cell}人，不公布）"
            return f"{value}{unit}"

        return [
            f"{self.town}{self.period_label}法律咨询工作情况",
            (
                f"本期共接受群众法律咨询{n(d['questions']['count'], '人次')}"
                f"（涉及村民{n(d['questions']['villagers'], '人')}），"
                f"其中机器人直接解答{n(d['match_rate']['answered'], '人次')}"
                f"（解答率{percent(d['match_rate']['rate'])}）；"
                f"推荐相近问题{n(d['suggestion_acceptance']['suggestions'], '人次')}，"
                f"群众采纳{n(d['suggestion_acceptance']['accepted'], '人次')}"
                f"（采纳率{percent(d['suggestion_acceptance']['rate'])}）。"
            ),
            (
                f"转村（居）法律顾问解答{n(esc['opened'], '件')}（其中紧急求助{n(esc['urgent'], '件')}），"
                f"已答复{n(esc['answered'], '件')}（答复率{percent(esc['answer_rate'])}），"
                f"已办结{n(esc['closed'], '件')}，超时未答复{n(esc['overdue'], '件')}；"
                f"法律顾问首次答复时长中位数{hours_text(times['first_response']['median_hours'])}，"
                f"办结时长中位数{hours_text(times['resolution']['median_hours'])}。"
            ),
            (
                f"群众满意率：机器人解答{percent(sat['faq']['rate'])}"
                f"（评价{n(sat['faq']['rated'], '次')}），"
                f"法律顾问答复{percent(sat['advisor']['rate'])}（评价{n(sat['advisor']['rated'], '次')}）。"
            ),
            self._offline_sentence(n),
            SUPPRESSION_NOTE.format(n=self.small_cell),
        ]

    def _offline_sentence(self, n: Callable[[Value, str], str]) -> str:
        """The offline work and the dispute register, in the township-report wording."""
        d = self.as_dict()
        c, off, dis = d["consultations"], d["offline"], d["disputes"]
        return (
            f"线下接受热线电话咨询{c['hotline']}人次、来访咨询{c['walk_in']}人次，"
            f"连同机器人解答合计接受法律咨询{n(c['total'], '人次')}；"
            f"出具法律意见{off['legal_opinion']['records']}件"
            f"（为村（居）{off['legal_opinion']['village']}件、为镇{off['legal_opinion']['town']}件）；"
            f"开展普法活动{off['publicity_event']['records']}场，"
            f"发放资料{off['publicity_event']['materials']}份、悬挂横幅{off['publicity_event']['banners']}条。"
            f"排查矛盾纠纷{dis['registered']}件，调解成功{dis['success']}件"
            f"（调结率{percent(dis['mediation_rate'])}），调处中{dis['open']}件；"
            f"当事人满意率{percent(dis['satisfaction']['rate'])}。"
        )


def percent(value: Value) -> str:
    """Render a rate as '93.5%', a suppressed one as '<N人', and '—' without data."""
    if value is None:
        return NOT_AVAILABLE
    if isinstance(value, str):
        return f"{value}人"
    return f"{value * 100:.1f}%"


def hours_text(value: Value) -> str:
    """Render hours as '3.5小时', a suppressed one as '<N人', and '—' without data."""
    if value is None:
        return NOT_AVAILABLE
    if isinstance(value, str):
        return f"{value}人"
    return f"{value:g}小时"


def _advisor_names(config: Config) -> dict[str, tuple[str, tuple[str, ...]]]:
    names: dict[str, tuple[str, list[str]]] = {}
    for village in config.villages:
        for advisor, label in (
            (village.advisor_id, village.advisor_name),
            (village.backup_advisor_id, "后备法律顾问"),
        ):
            if advisor is None:
                continue
            entry = names.setdefault(str(advisor), (label, []))
            entry[1].append(village.name)
    return {k: (name, tuple(v)) for k, (name, v) in names.items()}


SECTIONS = frozenset(
    {
        "questions", "acceptance", "escalations", "satisfaction", "by_village",
        "village_decisions", "pushes", "by_topic", "by_decision", "by_channel", "by_month",
        "month_decisions", "advisors", "histogram", "gaps",
    }
)  # fmt: skip
"""What `build_report(sections=...)` can compute; the offline records are always included."""
DASHBOARD_SECTIONS = frozenset(
    {
        "questions", "escalations", "satisfaction", "by_village", "pushes", "by_topic",
        "by_channel", "by_month",
    }
)  # fmt: skip
"""What the console's dashboard shows (`by_village` then counts only the `answer` decisions)."""


def build_report(
    db: Database,
    config: Config,
    start: datetime,
    end: datetime,
    *,
    topic_names: Mapping[str, str] | None = None,
    now: datetime | None = None,
    gaps: int = 10,
    sections: Collection[str] | None = None,
) -> Report:
    """Run the aggregates for [start, end) in one session and return the report.

    `sections` (names of `SECTIONS`; None: all) limits the work to what a page shows; the
    sections left out stay empty (zero counts, empty lists), the others are exactly as in the
    full report.
    """
    moment = now or utcnow()
    remind = config.sla.remind_hours
    first_day, last_day = period_days(start, end, config.town.tz)
    tz = config.town.tz

    def want(name: str) -> bool:
        return sections is None or name in sections

    def escalations(by: Literal["all", "village", "advisor"]) -> list[q.EscalationCounts]:
        return q.escalation_counts(
            session=s, remind_hours=remind, now=moment, by=by, start=start, end=end
        )

    def times(
        measure: Literal["first_response", "resolution"],
        by: Literal["all", "village", "advisor"] = "all",
    ) -> list[q.Durations]:
        return q.response_times(session=s, measure=measure, by=by, start=start, end=end)

    no_rate = q.Rate(0, 0, 0)
    with db.session() as s:
        q.prepare_aggregates(s)
        # totals and the match rate count the same rows: one query gives both
        match = q.match_rate(session=s, start=start, end=end) if want("questions") else no_rate
        esc_rows = escalations("all") if want("escalations") else []
        first_all = times("first_response") if want("escalations") else []
        resolution_all = times("resolution") if want("escalations") else []
        village_decisions = (
            q.count_cross(session=s, first="village", second="decision", start=start, end=end)
            if want("village_decisions")
            else q.count_cross(
                session=s, first="village", second="decision", decisions=(Decision.ANSWER,),
                start=start, end=end,
            )
            if want("by_village")
            else []
        )  # fmt: skip
        return Report(
            town=config.town.name,
            start=start,
            end=end,
            tz=tz,
            small_cell=config.privacy.small_cell,
            generated_at=moment,
            village_names={v.code: v.name for v in config.villages},
            topic_names=dict(topic_names or {}),
            advisor_names=_advisor_names(config),
            total=q.Cell(None, match.denominator, match.villagers),
            match=match,
            acceptance=q.suggestion_acceptance(session=s, start=start, end=end)
            if want("acceptance")
            else no_rate,
            escalations=esc_rows[0] if esc_rows else q.EscalationCounts(None, 0, 0, 0, 0, 0, 0),
            first_response=first_all[0] if first_all else None,
            resolution=resolution_all[0] if resolution_all else None,
            satisfaction=dict(q.satisfaction(session=s, start=start, end=end))
            if want("satisfaction")
            else {},
            by_village=q.count_by(session=s, dimension="village", start=start, end=end)
            if want("by_village")
            else [],
            village_decisions=village_decisions,
            village_escalations=escalations("village") if want("by_village") else [],
            village_first_response=times("first_response", "village")
            if want("by_village")
            else [],
            village_satisfaction=dict(
                q.satisfaction(session=s, by="village", start=start, end=end)
            )
            if want("by_village")
            else {},
            pushes=q.push_stats(session=s, start=start, end=end) if want("pushes") else [],
            by_topic=q.count_by(session=s, dimension="topic", start=start, end=end)
            if want("by_topic")
            else [],
            by_decision=q.count_by(session=s, dimension="decision", start=start, end=end)
            if want("by_decision")
            else [],
            by_channel=q.count_by(session=s, dimension="channel", start=start, end=end)
            if want("by_channel")
            else [],
            by_month=q.count_by_month(session=s, tz=tz, start=start, end=end)
            if want("by_month")
            else [],
            month_decisions=q.count_by_month(
                session=s, tz=tz, by_decision=True, start=start, end=end
            )
            if want("month_decisions")
            else [],
            advisor_escalations=escalations("advisor") if want("advisors") else [],
            advisor_first_response=times("first_response", "advisor") if want("advisors") else [],
            advisor_resolution=times("resolution", "advisor") if want("advisors") else [],
            advisor_satisfaction=dict(
                q.satisfaction(session=s, by="advisor", start=start, end=end)
            )
            if want("advisors")
            else {},
            advisor_channels=q.advisor_channels(session=s, start=start, end=end)
            if want("advisors")
            else {},
            histogram=q.response_histogram(
                session=s, edges_hours=HISTOGRAM_EDGES_HOURS, start=start, end=end
            )
            if want("histogram")
            else [],
            gaps=q.top_unmatched(
                session=s, below=_answer_threshold(config), limit=gaps, start=start, end=end
            )
            if want("gaps")
            else [],
            offline=rm.offline_counts(session=s, first=first_day, last=last_day),
            disputes=rm.dispute_counts(session=s, first=first_day, last=last_day),
            open_disputes=rm.open_dispute_count(session=s),
        )


def _answer_threshold(config: Config) -> float:
    """The score from which the bot answers (configured, else the fitted one)."""
    table = config.matching
    if table.tau_high is not None:
        return table.tau_high
    return default_thresholds(table.semantic).answer


# --- terminal -------------------------------------------------------------------------------------


def _table(title: str, headers: Iterable[str], rows: Iterable[Iterable[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    return table


def _cell(value: Any) -> str:
    """A table cell: a suppressed count reads '<N人' (fewer than N villagers behind it)."""
    if value is None:
        return NOT_AVAILABLE
    if isinstance(value, str) and value.startswith("<") and value[1:].isdigit():
        return f"{value}人"
    return str(value)


def render_rich(report: Report, console: Console) -> None:
    """Print the report as tables in the terminal."""
    for sentence in report.summary_sentences():
        console.print(sentence)
    for title, headers, rows in _sheets(report):
        if title == "台账":
            continue
        console.print(_table(title, headers, rows))


def _sheets(report: Report) -> list[tuple[str, list[str], list[list[Any]]]]:
    """Return (title, headers, rows) of every tabular view except the ledger (XLSX, CSV, rich)."""
    d = report.as_dict()
    villages = [
        [
            v["name"],
            v["questions"],
            v["villagers"],
            v["answered"],
            percent(v["match_rate"]),
            v["escalated"],
            v["overdue"],
            hours_text(v["first_response_median_hours"]),
            percent(v["advisor_satisfaction"]),
        ]
        for v in d["by_village"]
    ]
    advisors = [
        [
            a["name"],
            "、".join(a["villages"]),
            a["escalations"],
            "、".join(a["channels"]) or NOT_AVAILABLE,
            hours_text(a["first_response"]["median_hours"]),
            hours_text(a["first_response"]["p90_hours"]),
            hours_text(a["resolution"]["median_hours"]),
            hours_text(a["resolution"]["p90_hours"]),
            percent(a["satisfaction"]),
        ]
        for a in d["advisors"]
    ]
    months = [
        [m["month"], m["questions"], m["villagers"]]
        + [m["by_decision"].get(k, 0) for k in q.QUESTION_DECISIONS]
        for m in d["by_month"]
    ]
    return [
        (
            "分村",
            [
                "村",
                "咨询人次",
                "村民人数",
                "机器人解答",
                "解答率",
                "转顾问",
                "超时",
                "首次答复中位",
                "顾问满意率",
            ],
            villages,
        ),
        (
            "法律顾问",
            [
                "法律顾问",
                "负责村",
                "人次",
                "方式",
                "首次答复中位",
                "首次答复P90",
                "办结时长中位",
                "办结时长P90",
                "满意度",
            ],
            advisors,
        ),
        (
            "分月",
            ["月份", "咨询人次", "村民人数"] + [DECISION_LABELS[k] for k in q.QUESTION_DECISIONS],
            months,
        ),
        (
            "主题",
            ["主题", "咨询人次", "村民人数", "占比"],
            [
                [t["name"], t["questions"], t["villagers"], percent(t["share"])]
                for t in d["by_topic"]
            ],
        ),
        (
            "处理方式",
            ["处理方式", "人次", "村民人数"],
            [[x["label"], x["questions"], x["villagers"]] for x in d["by_decision"]],
        ),
        (
            "未解答问题",
            ["问题（相近合并）", "次数", "村民人数"],
            [[g["text"], g["count"], g["villagers"]] for g in d["gaps"]],
        ),
    ]


# --- ledger, XLSX, CSV ----------------------------------------------------------------------------

LEDGER_HEADERS = ["日期", "村", "主题", "处理方式", "法律顾问", "首次答复时长（小时）"]


def ledger(report: Report, db: Database) -> Iterable[list[Any]]:
    """Yield ledger lines: town-time date, village, topic, decision, advisor, response hours."""
    advisors = report.advisor_names
    with db.session() as s:
        for row in q.ledger_rows(session=s, start=report.start, end=report.end):
            local = row.created_at.astimezone(report.tz)
            yield [
                f"{local.year:04d}-{local.month:02d}-{local.day:02d} "
                f"{local.hour:02d}:{local.minute:02d}",
                report.village_names.get(row.village_code or "", row.village_code or ""),
                report.topic_names.get(row.topic_key or "", row.topic_key or ""),
                DECISION_LABELS.get(row.decision, row.decision),
                advisors.get(row.advisor_id or "", (row.advisor_id or "", ()))[0],
                None
                if row.first_response_seconds is None
                else round(row.first_response_seconds / 3600, 2),
            ]


def write_xlsx(report: Report, db: Database, path: Path) -> Path:
    """Write the workbook: 汇总, 分村, 法律顾问, 分月, 主题, 处理方式, 未解答问题, 台账."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    workbook = Workbook(write_only=True)
    summary = workbook.create_sheet("汇总")
    summary.column_dimensions["A"].width = 110
    for i, sentence in enumerate(report.summary_sentences()):
        summary.append([_styled(summary, sentence, bold=i == 0, Font=Font, Alignment=Alignment)])
    summary.append([])
    d = report.as_dict()
    summary.append(["指标", "数值"])
    for label, value in _indicators(d):
        summary.append([label, value])
    for title, headers, rows in _sheets(report):
        sheet = workbook.create_sheet(title)
        sheet.append(
            [_styled(sheet, h, bold=True, Font=Font, Alignment=Alignment) for h in headers]
        )
        for row in rows:
            sheet.append(row)
    sheet = workbook.create_sheet("台账")
    sheet.append(
        [_styled(sheet, h, bold=True, Font=Font, Alignment=Alignment) for h in LEDGER_HEADERS]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    _stream_ledger(path, "台账", ledger(report, db))
    return path


_COLUMNS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _ledger_xml(lines: Iterable[list[Any]], first_row: int = 2) -> Iterator[str]:
    """Yield <row> elements with inline strings (what openpyxl's write-only mode writes).

    Column A is the date text the ledger itself formats (digits only); other strings repeat
    (village, topic, decision, advisor), so their escaped form is cached.
    """
    cache: dict[str, str] = {}
    for r, line in enumerate(lines, first_row):
        parts = [f'<row r="{r}">']
        for c, value in enumerate(line):
            if value is None or value == "":
                continue
            letter = _COLUMNS[c]
            if isinstance(value, int | float) and not isinstance(value, bool):
                parts.append(f'<c r="{letter}{r}"><v>{value}</v></c>')
                continue
            if c == 0:
                text = value
            else:
                text = cache.get(value)
                if text is None:
                    text = xml_escape(_XML_ILLEGAL.sub("", str(value)))
                    if len(cache) < 10_000:
                        cache[value] = text
            parts.append(f'<c r="{letter}{r}" t="inlineStr"><is><t>{text}</t></is></c>')
        parts.append("</row>")
        yield "".join(parts)


def _stream_ledger(path: Path, sheet_name: str, lines: Iterable[list[Any]]) -> None:
    """Append the ledger rows to a saved workbook's sheet without openpyxl's per-cell objects.

    openpyxl needs ~10 s for 100,000 ledger lines; writing the same <row> XML directly takes a
    fraction of that. The sheet was created (with its header row) by openpyxl; its XML is
    copied and the rows are streamed in before </sheetData>.
    """
    with zipfile.ZipFile(path) as source:
        workbook_xml = source.read("xl/workbook.xml").decode()
        rels = source.read("xl/_rels/workbook.xml.rels").decode()
        rid = re.search(
            rf'<sheet [^>]*name="{re.escape(sheet_name)}"[^>]*r:id="([^"]+)"', workbook_xml
        )
        if rid is None:
            raise ValueError(f"no sheet {sheet_name!r} in {path}")
        target = re.search(rf'Target="([^"]+)" Id="{rid.group(1)}"', rels)
        if target is None:
            raise ValueError(f"no part for sheet {sheet_name!r} in {path}")
        part = target.group(1).lstrip("/")
        part = part if part.startswith("xl/") else f"xl/{part}"
        temporary = path.with_suffix(".tmp.xlsx")
        with zipfile.ZipFile(
            temporary, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1
        ) as out:
            for item in source.infolist():
                if item.filename != part:
                    out.writestr(item, source.read(item.filename))
                    continue
                head, tail = source.read(part).decode().split("</sheetData>", 1)
                with out.open(part, "w") as stream:
                    stream.write(head.encode())
                    chunk: list[str] = []
                    for row in _ledger_xml(lines):
                        chunk.append(row)
                        if len(chunk) >= 2000:
                            stream.write("".join(chunk).encode())
                            chunk = []
                    stream.write(("".join(chunk) + "</sheetData>" + tail).encode())
    os.replace(temporary, path)


def stream_rows(path: Path, sheet_name: str, lines: Iterable[list[Any]]) -> None:
    """Stream rows into the sheet of a workbook saved by openpyxl (see `_stream_ledger`)."""
    _stream_ledger(path, sheet_name, lines)


def _styled(sheet: Any, value: str, *, bold: bool, Font: Any, Alignment: Any) -> Any:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    if bold:
        cell.font = Font(bold=True)
    cell.alignment = Alignment(wrap_text=True, vertical="top")
    return cell


def _indicators(d: dict[str, Any]) -> list[tuple[str, Any]]:
    esc, times, sat = d["escalations"], d["response_times"], d["satisfaction"]
    return [
        ("统计期间", f"{d['period']['from']} 至 {d['period']['to']}"),
        ("咨询人次", d["questions"]["count"]),
        ("咨询村民人数", d["questions"]["villagers"]),
        ("机器人直接解答人次", d["match_rate"]["answered"]),
        ("解答率", percent(d["match_rate"]["rate"])),
        ("推荐相近问题人次", d["suggestion_acceptance"]["suggestions"]),
        ("推荐采纳率", percent(d["suggestion_acceptance"]["rate"])),
        ("转法律顾问件数", esc["opened"]),
        ("紧急求助件数", esc["urgent"]),
        ("顾问已答复件数", esc["answered"]),
        ("答复率", percent(esc["answer_rate"])),
        ("已办结件数", esc["closed"]),
        ("超时未答复件数", esc["overdue"]),
        ("首次答复时长中位数", hours_text(times["first_response"]["median_hours"])),
        ("首次答复时长P90", hours_text(times["first_response"]["p90_hours"])),
        ("办结时长中位数", hours_text(times["resolution"]["median_hours"])),
        ("机器人解答满意率", percent(sat["faq"]["rate"])),
        ("法律顾问满意率", percent(sat["advisor"]["rate"])),
        ("热线电话咨询人次", d["consultations"]["hotline"]),
        ("来访咨询人次", d["consultations"]["walk_in"]),
        ("咨询人次合计（含线下）", d["consultations"]["total"]),
        ("出具法律意见件数", d["offline"]["legal_opinion"]["records"]),
        ("线下普法活动场次", d["offline"]["publicity_event"]["records"]),
        ("排查矛盾纠纷件数", d["disputes"]["registered"]),
        ("调解成功件数", d["disputes"]["success"]),
        ("调结率", percent(d["disputes"]["mediation_rate"])),
        ("纠纷当事人满意率", percent(d["disputes"]["satisfaction"]["rate"])),
        ("小样本保护", f"少于{d['small_cell']}人的格子显示为“<{d['small_cell']}”"),
    ]


CSV_FILES = {
    "分村": "villages.csv",
    "法律顾问": "advisors.csv",
    "分月": "months.csv",
    "主题": "topics.csv",
    "处理方式": "decisions.csv",
    "未解答问题": "gaps.csv",
}


def write_csv(report: Report, db: Database, directory: Path) -> list[Path]:
    """Write summary.csv, one CSV per sheet and ledger.csv (UTF-8 with BOM for Excel)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []

    def dump(name: str, headers: list[str], rows: Iterable[Iterable[Any]]) -> None:
        path = directory / name
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(headers)
            writer.writerows(rows)
        written.append(path)

    dump("summary.csv", ["指标", "数值"], _indicators(report.as_dict()))
    for title, headers, rows in _sheets(report):
        dump(CSV_FILES[title], headers, rows)
    dump("ledger.csv", LEDGER_HEADERS, ledger(report, db))
    return written


# --- charts ---------------------------------------------------------------------------------------

FONT_ENV = "LAWBOT_CJK_FONT"
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
FONT_PROBE = "曹溪镇法律咨询人次村顾问满意率"


class FontMissing(RuntimeError):
    """No font that covers Chinese was found; charts would show tofu boxes."""


def font_covers(path: Path, text: str) -> bool:
    """Tell whether the font file (TTF/OTF or the first face of a TTC) maps every character."""
    from fontTools.ttLib import TTCollection, TTFont  # type: ignore[import-untyped]

    if path.suffix.lower() == ".ttc":
        font = TTCollection(str(path), lazy=True).fonts[0]
    else:
        font = TTFont(str(path), lazy=True)
    cmap = font.getBestCmap() or {}
    return all(ord(ch) in cmap for ch in text if not ch.isspace() and ord(ch) > 127)


def _packaged_font() -> str:
    """Return the WenQuanYi Micro Hei file that the pip dependency ships, or '' without it."""
    try:
        from importlib.resources import files

        return str(files("paperang_p2_fonts_cjk") / "fonts" / "wqy-microhei.ttc")
    except ModuleNotFoundError:
        return ""


def cjk_font() -> Path:
    """Return a font covering Chinese ($LAWBOT_CJK_FONT, a system path, or the packaged one)."""
    candidates = [os.environ.get(FONT_ENV, ""), *FONT_CANDIDATES, _packaged_font()]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and font_covers(Path(candidate), FONT_PROBE):
            return Path(candidate)
    from matplotlib import font_manager

    for path in font_manager.findSystemFonts():
        lowered = path.lower()
        if any(k in lowered for k in ("cjk", "wqy", "hei", "song", "kai", "han")) and font_covers(
            Path(path), FONT_PROBE
        ):
            return Path(path)
    raise FontMissing(
        "没有找到中文字体，图表会显示成方框。请安装 fonts-wqy-microhei 或 fonts-noto-cjk "
        f"（apt-get install fonts-wqy-microhei），或用 {FONT_ENV} 指定字体文件。"
        " No CJK font found: install fonts-wqy-microhei or fonts-noto-cjk, or set "
        f"{FONT_ENV}."
    )


def _number(value: Value) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _label(value: Value) -> str:
    return NOT_AVAILABLE if value is None else str(value)


def write_charts(report: Report, directory: Path) -> list[Path]:
    """Write monthly_volume.png, villages.png, topics.png, response_times.png.

    Suppressed cells are drawn with zero height and labelled "<N".
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    font_path = cjk_font()
    font_manager.fontManager.addfont(str(font_path))
    family = font_manager.FontProperties(fname=str(font_path)).get_name()
    directory.mkdir(parents=True, exist_ok=True)
    d = report.as_dict()
    written: list[Path] = []
    style: Any = {"font.family": [family], "axes.unicode_minus": False, "font.size": 10}

    def save(fig: Any, name: str) -> None:
        path = directory / name
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    def bar_labels(ax: Any, bars: Any, values: list[Value]) -> None:
        for bar, value in zip(bars, values, strict=True):
            ax.annotate(
                _label(value),
                (bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )

    with plt.rc_context(style):
        # monthly volume by decision (stacked)
        fig, ax = plt.subplots(figsize=(9, 4.5))
        months = [m["month"] for m in d["by_month"]]
        bottom = [0.0] * len(months)
        for decision in q.QUESTION_DECISIONS:
            values = [m["by_decision"].get(decision, 0) for m in d["by_month"]]
            heights = [_number(v) for v in values]
            ax.bar(months, heights, bottom=bottom, label=DECISION_LABELS[decision])
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        totals = ax.bar(months, [0.0] * len(months), bottom=bottom)
        bar_labels(ax, totals, [m["questions"] for m in d["by_month"]])
        ax.set_title(f"{report.town}每月法律咨询人次（按处理方式）")
        ax.set_ylabel("人次")
        ax.legend(fontsize=8)
        save(fig, "monthly_volume.png")

        # per-village bars
        fig, ax = plt.subplots(figsize=(9, 4.5))
        names = [v["name"] for v in d["by_village"]]
        values = [v["questions"] for v in d["by_village"]]
        bars = ax.bar(names, [_number(v) for v in values], color="#3b7dd8")
        bar_labels(ax, bars, values)
        ax.set_title("各村法律咨询人次")
        ax.set_ylabel("人次")
        ax.tick_params(axis="x", rotation=45)
        save(fig, "villages.png")

        # topic shares
        fig, ax = plt.subplots(figsize=(9, 5))
        topics = list(reversed(d["by_topic"]))
        bars = ax.barh(
            [t["name"] for t in topics],
            [_number(t["share"]) * 100 for t in topics],
            color="#e07b39",
        )
        for bar, topic in zip(bars, topics, strict=True):
            ax.annotate(
                percent(topic["share"]),
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                va="center",
                fontsize=8,
            )
        ax.set_title("咨询主题占比")
        ax.set_xlabel("占比（%）")
        save(fig, "topics.png")

        # response-time distribution
        fig, ax = plt.subplots(figsize=(8, 4.5))
        buckets = _bucket_labels([h["bucket"] for h in d["response_histogram"]])
        values = [h["count"] for h in d["response_histogram"]]
        bars = ax.bar(buckets, [_number(v) for v in values], color="#4caf50")
        bar_labels(ax, bars, values)
        ax.set_title("法律顾问首次答复时长分布")
        ax.set_xlabel("首次答复时长")
        ax.set_ylabel("件数")
        save(fig, "response_times.png")
    return written


def _bucket_labels(buckets: list[str]) -> list[str]:
    """Turn '<1', '<4', ..., '>=48' into '1小时内', '1–4小时', ..., '48小时以上'."""
    labels, previous = [], ""
    for bucket in buckets:
        if bucket.startswith(">="):
            labels.append(f"{bucket[2:]}小时以上")
            continue
        upper = bucket[1:]
        labels.append(f"{previous}–{upper}小时" if previous else f"{upper}小时内")
        previous = upper
    return labels


CHART_LABELS = (
    "每月法律咨询人次（按处理方式）各村占比主题首次答复时长分布件数小时以上内"
    + "".join(DECISION_LABELS.values())
)


def chart_text_ok(path: Path, extra: str = "") -> bool:
    """Tell whether the font covers every chart label (plus `extra`, e.g. village names)."""
    return font_covers(path, CHART_LABELS + extra)


# --- compact texts for the bot --------------------------------------------------------------------


def stats_message(this: Report, last: Report) -> str:
    """Return /stats: this month and last month in one compact message."""
    lines = [STATS_HEADER.format(town=this.town)]
    for label, report in ((STATS_THIS_MONTH, this), (STATS_LAST_MONTH, last)):
        d = report.as_dict()
        lines.append(
            STATS_LINE.format(
                label=label,
                period=_short_period(report),
                questions=d["questions"]["count"],
                answered=d["match_rate"]["answered"],
                match=percent(d["match_rate"]["rate"]),
                escalated=d["escalations"]["opened"],
                replied=d["escalations"]["answered"],
                overdue=d["escalations"]["overdue"],
                first=hours_text(d["response_times"]["first_response"]["median_hours"]),
                faq=percent(d["satisfaction"]["faq"]["rate"]),
                advisor=percent(d["satisfaction"]["advisor"]["rate"]),
            )
        )
    return "\n\n".join(lines)


def village_stats_message(this: Report, last: Report, code: str) -> str:
    """Return /stats <village>: the village's line for this month and last month."""
    lines = [STATS_HEADER.format(town=this.town)]
    for label, report in ((STATS_THIS_MONTH, this), (STATS_LAST_MONTH, last)):
        row = next((v for v in report.as_dict()["by_village"] if v["code"] == code), None)
        name = this.village_names.get(code, code)
        row = row or {
            "questions": 0,
            "villagers": 0,
            "answered": 0,
            "match_rate": None,
            "escalated": 0,
            "overdue": 0,
            "first_response_median_hours": None,
            "advisor_satisfaction": None,
        }
        lines.append(
            STATS_VILLAGE_LINE.format(
                label=label,
                period=_short_period(report),
                village=name,
                questions=row["questions"],
                villagers=row["villagers"],
                answered=row["answered"],
                match=percent(row["match_rate"]),
                escalated=row["escalated"],
                overdue=row["overdue"],
                first=hours_text(row["first_response_median_hours"]),
                advisor=percent(row["advisor_satisfaction"]),
            )
        )
    return "\n\n".join(lines)


def gaps_message(report: Report) -> str:
    """Return /gaps: the top unmatched questions of the period."""
    gaps = report.as_dict()["gaps"]
    if not gaps:
        return GAPS_NONE
    lines = [GAPS_HEADER]
    lines += [
        GAPS_LINE.format(rank=i, text=g["text"][:60], count=g["count"])
        for i, g in enumerate(gaps, 1)
    ]
    return "\n".join(lines)


def _short_period(report: Report) -> str:
    first = report.start.astimezone(report.tz)
    return f"{first.year}年{first.month}月"


def load_topic_names(kb_dir: Path | None) -> dict[str, str]:
    """Read {topic key: name} from the FAQ files' top lines only (fast; no full KB load)."""

    from knowledge.loader import default_kb_dir, resolve_kb_dirs

    _, faq_dir = resolve_kb_dirs(kb_dir or default_kb_dir())
    names: dict[str, str] = {}
    for path in sorted(faq_dir.glob("*.y*ml")):
        head = path.read_text(encoding="utf-8")[:2000]
        key = re.search(r"^key:\s*(\S+)", head, re.M)
        name = re.search(r"^topic:\s*(.+?)\s*$", head, re.M)
        if key and name:
            names[key.group(1).strip("'\"")] = name.group(1).strip("'\"")
    return names


def topic_names_of(topics: Iterable[Any]) -> dict[str, str]:
    """Return {topic key: Chinese name} from the knowledge base's topics."""
    return {t.key: t.name for t in topics}
