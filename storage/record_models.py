"""SQLModel tables of the town's offline work and its dispute register (矛盾纠纷台账).

Offline records are what staff and advisors do away from the bot: a hotline call or a walk-in
consultation, a legal opinion given to a village or the town, a publicity event. A dispute case
is opened from an escalation or an offline record (or on its own), gets dated mediation steps and
is closed with an outcome and the parties' satisfaction.

Dates (`day`, `opened_on`, `closed_on`) are town dates as staff write them; times are aware UTC.
Texts arrive masked (the services mask them); repository functions take `now` from the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Column, Text, func
from sqlalchemy import select as sa_select
from sqlmodel import Field, Session, SQLModel, col, select

from storage.clock import utcnow

__all__ = [
    "DisputeCase",
    "DisputeCounts",
    "DisputeStep",
    "OfflineCounts",
    "OfflineRecord",
    "dispute_counts",
    "dispute_for_escalation",
    "dispute_for_record",
    "dispute_steps",
    "disputes",
    "offline_counts",
    "open_dispute_count",
    "records",
]


class OfflineRecord(SQLModel, table=True):
    """One piece of offline work: hotline call, walk-in, legal opinion or publicity event."""

    __tablename__ = "offlinerecord"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(
        max_length=16, index=True
    )  # hotline | walk_in | legal_opinion | publicity_event
    day: date = Field(index=True)  # town date the work was done
    village_code: str | None = Field(default=None, max_length=32, index=True)  # None: the town
    topic: str = Field(default="", max_length=48)  # a KB topic key, or free words
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # masked
    people: int = 1  # 人次 of a consultation (a family at the window counts each person)
    opinion_for: str = Field(default="", max_length=16)  # legal_opinion: village | town
    place: str = Field(default="", max_length=120)  # publicity_event
    event_kind: str = Field(default="", max_length=32)  # publicity_event: 集中宣传, 法治讲座...
    materials: int = 0  # publicity_event: leaflets and booklets handed out
    banners: int = 0  # publicity_event: banners hung
    attendees: int = 0  # publicity_event: people reached
    recorded_by: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class DisputeCase(SQLModel, table=True):
    """One case of the dispute register, from registration to its outcome."""

    __tablename__ = "disputecase"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16, index=True)
    village_code: str | None = Field(default=None, max_length=32, index=True)
    parties: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # masked
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # masked
    mediator: str = Field(default="", max_length=64)
    escalation_id: int | None = Field(default=None, foreign_key="escalation.id", index=True)
    record_id: int | None = Field(default=None, foreign_key="offlinerecord.id", index=True)
    opened_on: date = Field(index=True)  # town date of registration (排查)
    opened_by: str = Field(max_length=32)
    state: str = Field(default="open", max_length=16, index=True)  # open | closed
    outcome: str | None = Field(default=None, max_length=16)  # success|failed|litigation|petition
    satisfaction: str | None = Field(default=None, max_length=16)  # satisfied|basic|unsatisfied
    closed_on: date | None = None
    closed_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None


class DisputeStep(SQLModel, table=True):
    """One dated step of a mediation: a visit, a talk with both sides, an agreement."""

    __tablename__ = "disputestep"

    id: int | None = Field(default=None, primary_key=True)
    dispute_id: int = Field(foreign_key="disputecase.id", index=True)
    day: date
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # masked
    actor: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


# --- queries --------------------------------------------------------------------------------------


def records(
    *,
    session: Session,
    villages: Sequence[str] | None = None,
    kind: str | None = None,
    village: str | None = None,
    first: date | None = None,
    last: date | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, Sequence[OfflineRecord]]:
    """Return (total, one page) of offline records, newest first; `villages` None: the town.

    `first` and `last` are inclusive town dates.
    """
    statement = select(OfflineRecord)
    if villages is not None:
        statement = statement.where(col(OfflineRecord.village_code).in_(list(villages)))
    if kind:
        statement = statement.where(OfflineRecord.kind == kind)
    if village:
        statement = statement.where(OfflineRecord.village_code == village)
    if first is not None:
        statement = statement.where(col(OfflineRecord.day) >= first)
    if last is not None:
        statement = statement.where(col(OfflineRecord.day) <= last)
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    page = session.exec(
        statement.order_by(col(OfflineRecord.day).desc(), col(OfflineRecord.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return int(total), page


def disputes(
    *,
    session: Session,
    villages: Sequence[str] | None = None,
    state: str | None = None,
    village: str | None = None,
) -> Sequence[DisputeCase]:
    """Return dispute cases, open ones first, then newest first; `villages` None: the town."""
    statement = select(DisputeCase)
    if villages is not None:
        statement = statement.where(col(DisputeCase.village_code).in_(list(villages)))
    if state:
        statement = statement.where(DisputeCase.state == state)
    if village:
        statement = statement.where(DisputeCase.village_code == village)
    return session.exec(
        statement.order_by(
            col(DisputeCase.state).desc(),  # "open" sorts after "closed": open first
            col(DisputeCase.opened_on).desc(),
            col(DisputeCase.id).desc(),
        )
    ).all()


def dispute_steps(*, session: Session, dispute_id: int) -> Sequence[DisputeStep]:
    """Return the steps of a case in date order."""
    return session.exec(
        select(DisputeStep)
        .where(DisputeStep.dispute_id == dispute_id)
        .order_by(col(DisputeStep.day), col(DisputeStep.id))
    ).all()


def dispute_for_escalation(*, session: Session, escalation_id: int) -> DisputeCase | None:
    """Return the case opened from this escalation, if any."""
    return session.exec(
        select(DisputeCase).where(DisputeCase.escalation_id == escalation_id)
    ).first()


def dispute_for_record(*, session: Session, record_id: int) -> DisputeCase | None:
    """Return the case opened from this offline record, if any."""
    return session.exec(select(DisputeCase).where(DisputeCase.record_id == record_id)).first()


@dataclass(frozen=True, slots=True)
class OfflineCounts:
    """Offline work of one kind in a period: records and what they add up to."""

    kind: str
    records: int
    people: int
    materials: int
    banners: int
    attendees: int
    for_village: int
    for_town: int


def offline_counts(
    *,
    session: Session,
    first: date,
    last: date,
    villages: Sequence[str] | None = None,
) -> dict[str, OfflineCounts]:
    """Return {kind: counts} of the records with `first <= day <= last` (inclusive town dates)."""
    statement = (
        sa_select(
            col(OfflineRecord.kind),
            col(OfflineRecord.opinion_for),
            func.count(),
            func.coalesce(func.sum(OfflineRecord.people), 0),
            func.coalesce(func.sum(OfflineRecord.materials), 0),
            func.coalesce(func.sum(OfflineRecord.banners), 0),
            func.coalesce(func.sum(OfflineRecord.attendees), 0),
        )
        .where(col(OfflineRecord.day) >= first, col(OfflineRecord.day) <= last)
        .group_by(col(OfflineRecord.kind), col(OfflineRecord.opinion_for))
    )
    if villages is not None:
        statement = statement.where(col(OfflineRecord.village_code).in_(list(villages)))
    merged: dict[str, list[int]] = {}
    for kind, opinion_for, n, people, materials, banners, attendees in session.execute(
        statement
    ).all():
        row = merged.setdefault(kind, [0] * 7)
        for i, value in enumerate((n, people, materials, banners, attendees)):
            row[i] += int(value)
        if opinion_for == "village":
            row[5] += int(n)
        elif opinion_for == "town":
            row[6] += int(n)
    return {kind: OfflineCounts(kind, *values) for kind, values in merged.items()}


@dataclass(frozen=True, slots=True)
class DisputeCounts:
    """Cases registered in a period (by kind, or all with `kind` None), outcomes as of now."""

    kind: str | None
    registered: int
    open: int
    outcomes: dict[str, int]
    satisfaction: dict[str, int]


def dispute_counts(
    *,
    session: Session,
    first: date,
    last: date,
    villages: Sequence[str] | None = None,
) -> list[DisputeCounts]:
    """Return the totals first, then one line per kind, of cases opened in [first, last]."""
    statement = (
        sa_select(
            col(DisputeCase.kind),
            col(DisputeCase.state),
            col(DisputeCase.outcome),
            col(DisputeCase.satisfaction),
            func.count(),
        )
        .where(col(DisputeCase.opened_on) >= first, col(DisputeCase.opened_on) <= last)
        .group_by(
            col(DisputeCase.kind),
            col(DisputeCase.state),
            col(DisputeCase.outcome),
            col(DisputeCase.satisfaction),
        )
    )
    if villages is not None:
        statement = statement.where(col(DisputeCase.village_code).in_(list(villages)))
    lines: dict[str | None, DisputeCounts] = {None: DisputeCounts(None, 0, 0, {}, {})}
    for kind, state, outcome, satisfaction, n in session.execute(statement).all():
        for key in (None, kind):
            old = lines.get(key) or DisputeCounts(key, 0, 0, {}, {})
            outcomes, rated = dict(old.outcomes), dict(old.satisfaction)
            if outcome:
                outcomes[outcome] = outcomes.get(outcome, 0) + int(n)
            if satisfaction:
                rated[satisfaction] = rated.get(satisfaction, 0) + int(n)
            lines[key] = DisputeCounts(
                key,
                old.registered + int(n),
                old.open + (int(n) if state == "open" else 0),
                outcomes,
                rated,
            )
    total = lines.pop(None)
    return [total, *(lines[k] for k in sorted(lines, key=str))]


def open_dispute_count(*, session: Session, villages: Sequence[str] | None = None) -> int:
    """Return how many cases are open now, whenever they were registered."""
    statement = select(func.count()).select_from(DisputeCase).where(DisputeCase.state == "open")
    if villages is not None:
        statement = statement.where(col(DisputeCase.village_code).in_(list(villages)))
    return int(session.exec(statement).one())
