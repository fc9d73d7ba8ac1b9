"""Offline work in the town ledger: hotline calls and walk-ins, legal opinions, publicity events.

Staff record work for the whole town or any village; an advisor only for their villages. Every
stored text is cleaned of control codes and has phone, ID and account numbers masked, as the
bot's own consultations are.

    RecordError            a request that cannot be carried out (the message says why)
    └── RecordForbidden    the person may not see or change that village
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from bot.config import Config
from bot.services.accounts import Identity
from bot.services.privacy import mask_numbers
from bot.services.text_hygiene import clean_text
from storage import console_models as cm
from storage import record_models as rm
from storage.db import Database

__all__ = [
    "EVENT_KINDS",
    "KIND_LABELS",
    "OPINION_LABELS",
    "RecordError",
    "RecordForbidden",
    "RecordLine",
    "RecordPage",
    "RecordService",
    "mask_text",
]

KIND_LABELS = {
    "hotline": "热线电话咨询",
    "walk_in": "来访咨询",
    "legal_opinion": "法律意见",
    "publicity_event": "普法活动",
}
CONSULTATION_KINDS = ("hotline", "walk_in")
OPINION_LABELS = {"village": "为村（居）出具", "town": "为镇党委政府出具"}
EVENT_KINDS = (
    "集中宣传",
    "法治讲座",
    "送法进村",
    "以案释法",
    "法律进校园",
    "其他",
)
SUMMARY_CHARS = 2000
MAX_COUNT = 100_000


class RecordError(ValueError):
    """An offline-work request that cannot be carried out; the message says why (Chinese)."""


class RecordForbidden(RecordError):
    """The person may not see or change that village's records."""


def mask_text(text: str, limit: int = SUMMARY_CHARS) -> str:
    """Return text as stored: control codes dropped, personal numbers masked, trimmed."""
    return mask_numbers(clean_text(text)).strip()[:limit]


@dataclass(frozen=True, slots=True)
class RecordLine:
    """One offline record as the console shows it."""

    id: int
    kind: str
    kind_label: str
    day: date
    village: str
    village_code: str | None
    topic: str
    summary: str
    people: int
    opinion_for: str
    place: str
    event_kind: str
    materials: int
    banners: int
    attendees: int
    recorded_by: str


@dataclass(frozen=True, slots=True)
class RecordPage:
    """One page of the filtered records and the total number of them."""

    total: int
    lines: list[RecordLine]


@dataclass
class RecordService:
    """Offline work records over the database, with the service clock."""

    config: Config
    db: Database
    clock: Callable[[], datetime]

    def today(self) -> date:
        """Return today's date in the town."""
        return self.clock().astimezone(self.config.town.tz).date()

    def add(
        self,
        who: Identity,
        *,
        kind: str,
        day: date | None = None,
        village_code: str | None = None,
        topic: str = "",
        summary: str = "",
        people: int = 1,
        opinion_for: str = "",
        place: str = "",
        event_kind: str = "",
        materials: int = 0,
        banners: int = 0,
        attendees: int = 0,
    ) -> RecordLine:
        """Record one piece of offline work (`day` defaults to today, town time)."""
        if kind not in KIND_LABELS:
            raise RecordError(f"没有这种记录类型：{kind}")
        day = day or self.today()
        if day > self.today():
            raise RecordError("日期不能晚于今天。")
        village_code = village_code or None
        self.check_village(who, village_code)
        for label, value in (
            ("人次", people),
            ("资料份数", materials),
            ("横幅条数", banners),
            ("参加人数", attendees),
        ):
            if not 0 <= value <= MAX_COUNT:
                raise RecordError(f"{label}应在 0 到 {MAX_COUNT} 之间。")
        summary = mask_text(summary)
        if kind in CONSULTATION_KINDS:
            if people < 1:
                raise RecordError("咨询人次至少为 1。")
            if not summary:
                raise RecordError("请简要写明咨询内容。")
            opinion_for, place, event_kind, materials, banners, attendees = "", "", "", 0, 0, 0
        elif kind == "legal_opinion":
            if opinion_for not in OPINION_LABELS:
                raise RecordError("请选择法律意见是为村（居）还是为镇出具的。")
            if opinion_for == "village" and village_code is None:
                raise RecordError("为村（居）出具的法律意见要选择村。")
            if not summary:
                raise RecordError("请简要写明法律意见涉及的事项。")
            people, place, event_kind, materials, banners, attendees = 0, "", "", 0, 0, 0
        else:
            place = mask_text(place, 120)
            if not place:
                raise RecordError("请填写普法活动的地点。")
            if event_kind not in EVENT_KINDS:
                raise RecordError(f"活动形式应为：{'、'.join(EVENT_KINDS)}")
            people, opinion_for = 0, ""
        record = rm.OfflineRecord(
            kind=kind,
            day=day,
            village_code=village_code,
            topic=mask_text(topic, 48),
            summary=summary,
            people=people,
            opinion_for=opinion_for,
            place=place,
            event_kind=event_kind,
            materials=materials,
            banners=banners,
            attendees=attendees,
            recorded_by=who.name,
            created_at=self.clock(),
        )
        with self.db.session() as session:
            session.add(record)
            session.flush()
            cm.add_audit(
                session=session, now=self.clock(), actor=who.name, action="record.add",
                target=str(record.id), detail=f"{kind} {day.isoformat()} {village_code or ''}",
            )  # fmt: skip
            return self._line(record)

    def page(
        self,
        who: Identity,
        *,
        kind: str | None = None,
        village: str | None = None,
        first: date | None = None,
        last: date | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> RecordPage:
        """Return one page of the records this person sees, newest first."""
        if village:
            self.check_village(who, village)
        with self.db.session() as session:
            total, rows = rm.records(
                session=session, villages=who.villages, kind=kind or None,
                village=village or None, first=first, last=last, offset=offset, limit=limit,
            )  # fmt: skip
            return RecordPage(total, [self._line(r) for r in rows])

    def get(self, who: Identity, record_id: int) -> RecordLine:
        """Return one record this person may see."""
        with self.db.session() as session:
            record = session.get(rm.OfflineRecord, record_id)
            if record is None:
                raise RecordError(f"没有这条记录 #{record_id}")
            if not who.sees(record.village_code):
                raise RecordForbidden("这条记录不属于您负责的村。")
            return self._line(record)

    def check_village(self, who: Identity, village_code: str | None) -> None:
        """Refuse an unknown village, and a village (or the town) the person does not serve."""
        if village_code is not None and self.config.village(village_code) is None:
            raise RecordError(f"没有这个村：{village_code}")
        if not who.sees(village_code):
            raise RecordForbidden("您只能记录和查看自己负责的村。")

    def village_name(self, code: str | None) -> str:
        """Return the village's name, or the town's for None."""
        village = self.config.village(code)
        return village.name if village else self.config.town.name

    def _line(self, r: rm.OfflineRecord) -> RecordLine:
        assert r.id is not None
        return RecordLine(
            id=r.id, kind=r.kind, kind_label=KIND_LABELS.get(r.kind, r.kind), day=r.day,
            village=self.village_name(r.village_code), village_code=r.village_code,
            topic=r.topic, summary=r.summary, people=r.people, opinion_for=r.opinion_for,
            place=r.place, event_kind=r.event_kind, materials=r.materials, banners=r.banners,
            attendees=r.attendees, recorded_by=r.recorded_by,
        )  # fmt: skip
