"""Statistics over the consultation log: SQL aggregates for a period [start, end).

Every function takes a session and aware datetimes `start` (inclusive) and `end` (exclusive) and
runs its counting in the database (GROUP BY, COUNT, COUNT(DISTINCT)); nothing here loops over whole
rows in Python. Two documented exceptions fetch one narrow column only:

* response-time percentiles on SQLite (no `percentile_cont`): the durations column, ordered per
  group, is fetched and the percentile interpolated exactly like PostgreSQL's `percentile_cont`;
* the top unmatched questions: their normalised texts are fetched and grouped by similarity with
  rapidfuzz (KB gaps for staff to turn into new entries).

Definitions (these are the numbers staff put in the township report):

* **question** — a consultation whose decision is one of `QUESTION_DECISIONS`: answer, suggest,
  escalate, clarify, urgent. Not questions: `choice` (the villager picked a suggestion or browsed a
  topic — the follow-up of a question already counted), `follow_up` (a message inside an
  escalation already counted), `throttled` and `unsupported` (voice, photo: nothing to answer).
* **match rate** — questions with decision `answer` / all questions.
* **suggestion acceptance** — suggestions followed by a `choice` of the same villager carrying the
  same question text (the service copies the suggested question into the choice), with no newer
  suggestion to that villager in between / suggestions.
* **escalations** — by the escalation's `created_at`: opened; answered (`first_response_at` set);
  closed; overdue (still `open` or `claimed` and older than `remind_hours` at `now`).
* **first response / resolution time** — `first_response_at - created_at` and
  `closed_at - created_at` of the escalation, in seconds; median and p90 per advisor, per village.
* **satisfaction** — 👍 / (👍 + 👎) of `Feedback` on consultations of the period, per target
  (`faq`: bot answers, `advisor`: advisor answers, attributed to the escalation's advisor).
* **villagers** — every cell also carries COUNT(DISTINCT villager_id) for small-cell suppression.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz, process
from sqlalchemy import (
    ColumnElement,
    Executable,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlmodel import Session, SQLModel

from storage.clock import as_utc, utcnow
from storage.models import Decision, EscalationState

__all__ = [
    "QUESTION_DECISIONS",
    "Cell",
    "ConsoleRow",
    "Durations",
    "EscalationCounts",
    "Gap",
    "LedgerFilter",
    "LedgerRow",
    "Rate",
    "advisor_channels",
    "console_ledger",
    "console_ledger_rows",
    "count_by",
    "count_by_month",
    "count_cross",
    "escalation_counts",
    "ledger_rows",
    "match_rate",
    "month_bounds",
    "percentile",
    "prepare_aggregates",
    "response_histogram",
    "response_times",
    "satisfaction",
    "suggestion_acceptance",
    "top_unmatched",
    "totals",
]

QUESTION_DECISIONS: tuple[str, ...] = (
    Decision.ANSWER,
    Decision.CONFIRM,
    Decision.SUGGEST,
    Decision.ESCALATE,
    Decision.CLARIFY,
    Decision.URGENT,
)
UNMATCHED_DECISIONS: tuple[str, ...] = (Decision.ESCALATE, Decision.SUGGEST, Decision.CLARIFY)
PENDING_STATES: tuple[str, ...] = (EscalationState.OPEN, EscalationState.CLAIMED)

_CONSULTATION = SQLModel.metadata.tables["consultation"]
C = _CONSULTATION.c
_ESCALATION = SQLModel.metadata.tables["escalation"]
_FEEDBACK = SQLModel.metadata.tables["feedback"]
E = _ESCALATION.c
F = _FEEDBACK.c

Dimension = Literal["village", "topic", "channel", "decision"]
_DIMENSIONS: dict[str, Any] = {
    "village": C.village_code,
    "topic": C.topic_key,
    "channel": C.channel,
    "decision": C.decision,
}


@dataclass(frozen=True, slots=True)
class Cell:
    """One group: its key(s), how many consultations, how many distinct villagers."""

    key: str | None
    count: int
    villagers: int
    key2: str | None = None


@dataclass(frozen=True, slots=True)
class Rate:
    """A ratio with its parts; `value` is None when the denominator is 0."""

    numerator: int
    denominator: int
    villagers: int

    @property
    def value(self) -> float | None:
        """Return numerator / denominator, or None without a denominator."""
        return self.numerator / self.denominator if self.denominator else None


@dataclass(frozen=True, slots=True)
class EscalationCounts:
    """Escalations opened in the period, per key (None: all)."""

    key: str | None
    opened: int
    answered: int
    closed: int
    overdue: int
    urgent: int
    villagers: int


@dataclass(frozen=True, slots=True)
class Durations:
    """Median and p90 of a duration in seconds over `count` escalations of one group."""

    key: str | None
    count: int
    median: float | None
    p90: float | None


@dataclass(frozen=True, slots=True)
class Gap:
    """A group of similar unmatched questions: a representative text and its size."""

    text: str
    count: int
    villagers: int
    examples: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One ledger line: no names, no question text."""

    created_at: datetime
    village_code: str | None
    topic_key: str | None
    decision: str
    advisor_id: str | None
    first_response_seconds: float | None


def _run(session: Session, statement: Executable) -> Any:
    """Execute a Core statement on the session's connection (typed rows, no ORM entities)."""
    return session.connection().execute(statement)


def _in_period(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _questions(start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(
        _in_period(C.created_at, start, end),
        C.decision.in_(QUESTION_DECISIONS),
    )


def prepare_aggregates(session: Session) -> None:
    """Give this transaction's sorts room on PostgreSQL (a year of COUNT(DISTINCT) per group
    spills to disk at the default 4 MB work_mem); nothing to do on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection().exec_driver_sql("SET LOCAL work_mem = '32MB'")


def totals(*, session: Session, start: datetime, end: datetime) -> Cell:
    """Return the number of questions and of distinct villagers asking them."""
    row = _run(
        session,
        select(func.count(), func.count(func.distinct(C.villager_id))).where(
            _questions(start, end)
        ),
    ).one()
    return Cell(None, int(row[0]), int(row[1]))


def count_by(
    *, session: Session, start: datetime, end: datetime, dimension: Dimension
) -> list[Cell]:
    """Count questions per village, topic, channel or decision, largest first."""
    key = _DIMENSIONS[dimension]
    statement = (
        select(key, func.count(), func.count(func.distinct(C.villager_id)))
        .where(_questions(start, end))
        .group_by(key)
        .order_by(func.count().desc(), key)
    )
    return [Cell(k, int(n), int(v)) for k, n, v in _run(session, statement).all()]


def count_cross(
    *,
    session: Session,
    start: datetime,
    end: datetime,
    first: Dimension,
    second: Dimension,
    decisions: Sequence[str] | None = None,
) -> list[Cell]:
    """Count questions per pair of dimensions (e.g. village × decision).

    `decisions` keeps only questions of these decisions (the same cells as without it, fewer).
    """
    a, b = _DIMENSIONS[first], _DIMENSIONS[second]
    where = _questions(start, end)
    if decisions is not None:
        where = and_(where, C.decision.in_(list(decisions)))
    statement = (
        select(a, b, func.count(), func.count(func.distinct(C.villager_id)))
        .where(where)
        .group_by(a, b)
        .order_by(a, b)
    )
    return [Cell(k, int(n), int(v), key2=k2) for k, k2, n, v in _run(session, statement).all()]


def month_bounds(start: datetime, end: datetime, tz: ZoneInfo) -> list[tuple[str, datetime]]:
    """Return ('YYYY-MM', end of that month in UTC) for each town-time month touching the period."""
    local = start.astimezone(tz)
    year, month = local.year, local.month
    bounds: list[tuple[str, datetime]] = []
    while True:
        label = f"{year:04d}-{month:02d}"
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        upper = datetime(year, month, 1, tzinfo=tz).astimezone(UTC)
        bounds.append((label, upper))
        if upper >= end:
            return bounds


def count_by_month(
    *, session: Session, start: datetime, end: datetime, tz: ZoneInfo, by_decision: bool = False
) -> list[Cell]:
    """Count questions per month of the town's calendar (and per decision), in month order.

    The month is a CASE over month boundaries computed in Python in the town's time zone, so the
    same SQL works on SQLite and PostgreSQL; the CASE sits in a subquery so that PostgreSQL sees
    one expression to group by.
    """
    whens = [
        (C.created_at < upper, literal(label)) for label, upper in month_bounds(start, end, tz)
    ]
    inner = (
        select(
            case(*whens, else_=literal("")).label("month"),
            C.decision.label("decision"),
            C.villager_id.label("villager_id"),
        )
        .where(_questions(start, end))
        .subquery()
    )
    keys = [inner.c.month, inner.c.decision] if by_decision else [inner.c.month]
    statement = (
        select(*keys, func.count(), func.count(func.distinct(inner.c.villager_id)))
        .group_by(*keys)
        .order_by(*keys)
    )
    cells: list[Cell] = []
    for row in _run(session, statement).all():
        if by_decision:
            cells.append(Cell(row[0], int(row[2]), int(row[3]), key2=row[1]))
        else:
            cells.append(Cell(row[0], int(row[1]), int(row[2])))
    return cells


def match_rate(*, session: Session, start: datetime, end: datetime) -> Rate:
    """Return questions answered directly (`answer`, or `confirm` with a check) / all questions."""
    answered = func.sum(case((C.decision.in_((Decision.ANSWER, Decision.CONFIRM)), 1), else_=0))
    row = _run(
        session,
        select(answered, func.count(), func.count(func.distinct(C.villager_id))).where(
            _questions(start, end)
        ),
    ).one()
    return Rate(int(row[0] or 0), int(row[1]), int(row[2]))


def suggestion_acceptance(*, session: Session, start: datetime, end: datetime) -> Rate:
    """Return suggestions followed by a choice of one of them / suggestions."""
    choice = _CONSULTATION.alias("choice")
    between = _CONSULTATION.alias("between")
    newer_suggestion = (
        exists()
        .where(
            between.c.villager_id == C.villager_id,
            between.c.decision == Decision.SUGGEST,
            between.c.id > C.id,
            between.c.id < choice.c.id,
        )
        .correlate(_CONSULTATION, choice)
    )
    followed = exists().where(
        choice.c.villager_id == C.villager_id,
        choice.c.decision == Decision.CHOICE,
        choice.c.id > C.id,
        choice.c.raw_text == C.raw_text,
        ~newer_suggestion,
    )
    accepted = func.sum(case((followed, 1), else_=0))
    row = _run(
        session,
        select(accepted, func.count(), func.count(func.distinct(C.villager_id))).where(
            _in_period(C.created_at, start, end),
            C.decision == Decision.SUGGEST,
        ),
    ).one()
    return Rate(int(row[0] or 0), int(row[1]), int(row[2]))


def escalation_counts(
    *,
    session: Session,
    start: datetime,
    end: datetime,
    remind_hours: float,
    by: Literal["all", "village", "advisor"] = "all",
    now: datetime | None = None,
) -> list[EscalationCounts]:
    """Count escalations opened in the period: answered, closed, overdue (past `remind_hours`)."""
    moment = now or utcnow()
    deadline = moment.timestamp() - remind_hours * 3600
    late = datetime.fromtimestamp(deadline, tz=UTC)
    key: Any = {
        "all": literal(None),
        "village": E.village_code,
        "advisor": E.advisor_id,
    }[by]
    overdue = and_(E.state.in_(PENDING_STATES), E.created_at < late)
    columns = (
        func.count(),
        func.sum(case((E.first_response_at.is_not(None), 1), else_=0)),
        func.sum(case((E.closed_at.is_not(None), 1), else_=0)),
        func.sum(case((overdue, 1), else_=0)),
        func.sum(case((E.urgent.is_(True), 1), else_=0)),
        func.count(func.distinct(E.villager_id)),
    )
    where = _in_period(E.created_at, start, end)
    if by == "all":
        rows = [(None, *_run(session, select(*columns).where(where)).one())]
    else:
        rows = list(
            _run(session, select(key, *columns).where(where).group_by(key).order_by(key)).all()
        )
    return [
        EscalationCounts(k, int(n), int(a or 0), int(c or 0), int(o or 0), int(u or 0), int(v))
        for k, n, a, c, o, u, v in rows
    ]


def advisor_channels(
    *, session: Session, start: datetime, end: datetime
) -> dict[str | None, list[str]]:
    """Return the channels (方式) each advisor's escalations of the period came in by."""
    statement = (
        select(E.advisor_id, C.channel)
        .select_from(_ESCALATION.join(_CONSULTATION, C.id == E.consultation_id))
        .where(_in_period(E.created_at, start, end))
        .group_by(E.advisor_id, C.channel)
        .order_by(E.advisor_id, C.channel)
    )
    channels: dict[str | None, list[str]] = {}
    for advisor, channel in _run(session, statement).all():
        channels.setdefault(advisor, []).append(channel)
    return channels


def _seconds(session: Session, later: Any, earlier: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def response_times(
    *,
    session: Session,
    start: datetime,
    end: datetime,
    measure: Literal["first_response", "resolution"],
    by: Literal["all", "village", "advisor"] = "all",
) -> list[Durations]:
    """Median and p90 of first-response or resolution time (seconds) per group.

    PostgreSQL computes `percentile_cont` in the database; SQLite returns only the group key and
    the duration, ordered, and the same interpolation runs here.
    """
    done = E.first_response_at if measure == "first_response" else E.closed_at
    seconds = _seconds(session, done, E.created_at)
    key: Any = {
        "all": literal("*"),
        "village": E.village_code,
        "advisor": E.advisor_id,
    }[by]
    where = and_(_in_period(E.created_at, start, end), done.is_not(None))
    if session.get_bind().dialect.name == "postgresql":
        statement = (
            select(
                key,
                func.count(),
                func.percentile_cont(0.5).within_group(seconds),
                func.percentile_cont(0.9).within_group(seconds),
            )
            .where(where)
            .group_by(key)
            .order_by(key)
        )
        if by == "all":
            statement = select(
                literal("*"),
                func.count(),
                func.percentile_cont(0.5).within_group(seconds),
                func.percentile_cont(0.9).within_group(seconds),
            ).where(where)
        out = []
        for k, n, med, p90 in _run(session, statement).all():
            if int(n) == 0:
                continue
            out.append(Durations(None if by == "all" else k, int(n), float(med), float(p90)))
        return out
    rows = _run(session, select(key, seconds).where(where).order_by(key, seconds)).all()
    groups: dict[str | None, list[float]] = {}
    for k, value in rows:
        groups.setdefault(None if by == "all" else k, []).append(float(value))
    return [
        Durations(k, len(v), percentile(v, 0.5), percentile(v, 0.9)) for k, v in groups.items()
    ]


def response_histogram(
    *, session: Session, start: datetime, end: datetime, edges_hours: Sequence[float]
) -> list[Cell]:
    """Count answered escalations per first-response bucket: key '<h1', '<h2', ..., '>=hn'."""
    seconds = _seconds(session, E.first_response_at, E.created_at)
    whens = [(seconds < h * 3600, literal(f"<{h:g}")) for h in edges_hours]
    inner = (
        select(
            case(*whens, else_=literal(f">={edges_hours[-1]:g}")).label("bucket"),
            E.villager_id.label("villager_id"),
        )
        .where(_in_period(E.created_at, start, end), E.first_response_at.is_not(None))
        .subquery()
    )
    statement = select(
        inner.c.bucket, func.count(), func.count(func.distinct(inner.c.villager_id))
    ).group_by(inner.c.bucket)
    found = {k: Cell(k, int(n), int(v)) for k, n, v in _run(session, statement).all()}
    labels = [f"<{h:g}" for h in edges_hours] + [f">={edges_hours[-1]:g}"]
    return [found.get(label, Cell(label, 0, 0)) for label in labels]


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Return the q-th percentile of sorted values, interpolated like `percentile_cont`."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def satisfaction(
    *,
    session: Session,
    start: datetime,
    end: datetime,
    by: Literal["target", "advisor", "village"] = "target",
) -> list[tuple[str | None, Rate]]:
    """Return 👍 / (👍 + 👎) on consultations of the period, per target, advisor or village.

    Per advisor and per village only advisor answers (`target = 'advisor'`) count; the advisor is
    the one of the escalation of the same consultation.
    """
    helpful = func.sum(case((F.helpful.is_(True), 1), else_=0))
    columns = (helpful, func.count(), func.count(func.distinct(F.villager_id)))
    base = select().select_from(_FEEDBACK).join(_CONSULTATION, C.id == F.consultation_id)
    period = _in_period(C.created_at, start, end)
    if by == "target":
        statement = (
            base.add_columns(F.target, *columns)
            .where(period)
            .group_by(F.target)
            .order_by(F.target)
        )
    else:
        key: Any = E.advisor_id if by == "advisor" else E.village_code
        statement = (
            base.join(_ESCALATION, E.consultation_id == F.consultation_id)
            .add_columns(key, *columns)
            .where(period, F.target == "advisor")
            .group_by(key)
            .order_by(key)
        )
    return [
        (k, Rate(int(up or 0), int(n), int(v))) for k, up, n, v in _run(session, statement).all()
    ]


def top_unmatched(
    *,
    session: Session,
    start: datetime,
    end: datetime,
    below: float,
    limit: int = 10,
    similarity: float = 70.0,
    fetch: int = 1000,
) -> list[Gap]:
    """Group the questions the bot could not answer (score under `below`) by similarity.

    The database groups identical texts (COUNT per text); only the `fetch` most frequent
    distinct texts are read and clustered greedily with rapidfuzz (ratio ≥ `similarity`), most
    frequent first. The distinct villagers of the top clusters come from one more query over
    (text, villager id) pairs of those texts only.
    """
    text = func.coalesce(func.nullif(C.normalized_text, ""), C.raw_text)
    inner = (
        select(text.label("text"), C.villager_id.label("villager_id"))
        .where(
            _in_period(C.created_at, start, end),
            C.decision.in_(UNMATCHED_DECISIONS),
            or_(C.score.is_(None), C.score < below),
            func.length(C.raw_text) > 0,
        )
        .subquery()
    )
    statement = (
        select(inner.c.text, func.count())
        .group_by(inner.c.text)
        .order_by(func.count().desc(), inner.c.text)
        .limit(fetch)
    )
    heads: list[str] = []
    members: list[list[tuple[str, int]]] = []
    for value, count in _run(session, statement).all():
        value = str(value)
        found = (
            process.extractOne(value, heads, scorer=fuzz.ratio, score_cutoff=similarity)
            if heads
            else None
        )
        if found is None:
            heads.append(value)
            members.append([(value, int(count))])
        else:
            members[found[2]].append((value, int(count)))
    ranked = sorted(range(len(heads)), key=lambda i: (-sum(n for _, n in members[i]), heads[i]))[
        :limit
    ]
    texts = {value: i for i in ranked for value, _ in members[i]}
    who: dict[int, set[int]] = {i: set() for i in ranked}
    if texts:
        pairs = (
            select(inner.c.text, inner.c.villager_id)
            .where(inner.c.text.in_(list(texts)))
            .distinct()
        )
        for value, villager_id in _run(session, pairs).all():
            who[texts[str(value)]].add(int(villager_id))
    return [
        Gap(
            heads[i],
            sum(n for _, n in members[i]),
            len(who[i]),
            tuple(value for value, _ in members[i][:3]),
        )
        for i in ranked
    ]


def ledger_rows(
    *, session: Session, start: datetime, end: datetime, batch: int = 5000
) -> Iterator[LedgerRow]:
    """Yield the ledger: every consultation of the period except throttled ones, oldest first.

    Only the ledger columns are read (no text, no villager id), streamed in batches.
    """
    seconds = _seconds(session, E.first_response_at, E.created_at)
    statement = (
        select(
            C.created_at,
            C.village_code,
            C.topic_key,
            C.decision,
            E.advisor_id,
            seconds,
        )
        .select_from(_CONSULTATION)
        .outerjoin(_ESCALATION, E.consultation_id == C.id)
        .where(
            _in_period(C.created_at, start, end),
            C.decision != Decision.THROTTLED,
        )
        .order_by(C.created_at, C.id)
        .execution_options(yield_per=batch)
    )
    for created, village, topic, decision, advisor, wait in _run(session, statement):
        yield LedgerRow(
            as_utc(created),
            village,
            topic,
            decision,
            advisor,
            None if wait is None else float(wait),
        )


@dataclass(frozen=True)
class PushStats:
    """One publicity push run: its audience and what became of the deliveries."""

    campaign: str
    push_key: str
    due_at: datetime
    targeted: int
    sent: int
    failed: int
    blocked: int
    useful: int
    unsubscribed: int


def push_stats(*, session: Session, start: datetime, end: datetime) -> list[PushStats]:
    """Return per-push delivery counts and clicks for pushes due in [start, end)."""
    from sqlalchemy import case, func, select

    from storage.campaign_models import CampaignClick, CampaignDelivery, CampaignRun

    delivery = CampaignDelivery.__table__  # type: ignore[attr-defined]
    run = CampaignRun.__table__  # type: ignore[attr-defined]
    click = CampaignClick.__table__  # type: ignore[attr-defined]

    def state_count(*states: str) -> Any:
        return func.sum(case((delivery.c.state.in_(states), 1), else_=0))

    runs = select(run.c.id).where(run.c.due_at >= start, run.c.due_at < end)
    # deliveries and clicks of the period's runs only, each counted per run (clicks by kind)
    sent = (
        select(
            delivery.c.run_id.label("run_id"),
            func.count().label("targeted"),
            state_count("sent").label("sent"),
            state_count("failed").label("failed"),
            state_count("blocked", "deactivated").label("blocked"),
        )
        .where(delivery.c.run_id.in_(runs))
        .group_by(delivery.c.run_id)
        .subquery()
    )
    clicks = (
        select(
            delivery.c.run_id.label("run_id"),
            func.sum(case((click.c.kind == "useful", 1), else_=0)).label("useful"),
            func.sum(case((click.c.kind == "unsubscribe", 1), else_=0)).label("unsubscribed"),
        )
        .select_from(click.join(delivery, delivery.c.id == click.c.delivery_id))
        .where(delivery.c.run_id.in_(runs))
        .group_by(delivery.c.run_id)
        .subquery()
    )
    statement = (
        select(
            run.c.campaign,
            run.c.push_key,
            run.c.due_at,
            func.coalesce(sent.c.targeted, 0),
            sent.c.sent,
            sent.c.failed,
            sent.c.blocked,
            func.coalesce(clicks.c.useful, 0),
            func.coalesce(clicks.c.unsubscribed, 0),
        )
        .select_from(run)
        .outerjoin(sent, sent.c.run_id == run.c.id)
        .outerjoin(clicks, clicks.c.run_id == run.c.id)
        .where(run.c.due_at >= start, run.c.due_at < end)
        .order_by(run.c.due_at)
    )
    return [
        PushStats(str(c), str(k), d, int(t), int(s or 0), int(f or 0), int(b or 0), int(u), int(x))
        for c, k, d, t, s, f, b, u, x in session.execute(statement).all()
    ]


@dataclass(frozen=True)
class ConsoleRow:
    """One ledger line as the console shows it (the text is masked by the caller)."""

    id: int
    created_at: datetime
    village_code: str | None
    topic_key: str | None
    decision: str
    channel: str
    text: str
    advisor_id: str | None
    first_response_seconds: float | None


@dataclass(frozen=True)
class LedgerFilter:
    """What the console's ledger shows: a period and optional village/topic/decision/channel;
    `villages` limits an advisor to their own villages."""

    start: datetime
    end: datetime
    village: str | None = None
    topic: str | None = None
    decision: str | None = None
    channel: str | None = None
    villages: tuple[str, ...] | None = None


def _ledger_where(f: LedgerFilter) -> list[ColumnElement[bool]]:
    where = [_in_period(C.created_at, f.start, f.end), C.decision != Decision.THROTTLED]
    for column, value in (
        (C.village_code, f.village),
        (C.topic_key, f.topic),
        (C.decision, f.decision),
        (C.channel, f.channel),
    ):
        if value:
            where.append(column == value)
    if f.villages is not None:
        where.append(C.village_code.in_(list(f.villages)))
    return where


def _console_statement(session: Session, filter: LedgerFilter) -> Any:
    seconds = _seconds(session, E.first_response_at, E.created_at)
    return (
        select(
            C.id,
            C.created_at,
            C.village_code,
            C.topic_key,
            C.decision,
            C.channel,
            C.raw_text,
            E.advisor_id,
            seconds,
        )
        .select_from(_CONSULTATION)
        .outerjoin(_ESCALATION, E.consultation_id == C.id)
        .where(*_ledger_where(filter))
        .order_by(C.created_at.desc(), C.id.desc())
    )


def _console_row(row: Any) -> ConsoleRow:
    i, at, v, t, d, ch, text, adv, w = row
    return ConsoleRow(i, as_utc(at), v, t, d, ch, text or "", adv, None if w is None else float(w))


def console_ledger(
    *, session: Session, filter: LedgerFilter, offset: int = 0, limit: int | None = 50
) -> tuple[int, list[ConsoleRow]]:
    """Return (total rows, one page) of the filtered ledger, newest first."""
    where = _ledger_where(filter)
    total = _run(session, select(func.count()).select_from(_CONSULTATION).where(*where))
    statement = _console_statement(session, filter).offset(offset)
    if limit is not None:
        statement = statement.limit(limit)
    rows = [_console_row(row) for row in _run(session, statement)]
    return int(total.scalar_one()), rows


def console_ledger_rows(
    *, session: Session, filter: LedgerFilter, batch: int = 2000
) -> Iterator[ConsoleRow]:
    """Yield every line of the filtered ledger, newest first, in one query streamed in batches
    (the exports: no count, no offsets)."""
    statement = _console_statement(session, filter).execution_options(yield_per=batch)
    for row in _run(session, statement):
        yield _console_row(row)
