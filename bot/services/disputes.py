"""The dispute register (矛盾纠纷台账): open a case, record mediation steps, close it.

A case is opened on its own, from an escalation (a villager's question the advisor found to be a
dispute) or from an offline record (a walk-in or a hotline call); one case per source. Staff see
the town, an advisor only their villages. Parties, summaries and step notes are stored masked.

Figures (`figures`, and the `disputes` section of `lawbot report`) count the cases registered
(排查) in a period, with their outcomes as of now: 调结率 = 调解成功 / 排查, 满意率 = (满意 + 基本满意)
/ cases whose satisfaction was asked.

    RecordError (bot.services.records)
    ├── RecordForbidden    the person may not see or change that village's cases
    └── DisputeError       a dispute request that cannot be carried out
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.config import Config
from bot.services.accounts import Identity
from bot.services.records import RecordError, RecordForbidden, mask_text
from storage import console_models as cm
from storage import record_models as rm
from storage.db import Database
from storage.models import Consultation, Escalation

__all__ = [
    "KIND_LABELS",
    "OUTCOME_LABELS",
    "SATISFACTION_LABELS",
    "DisputeDraft",
    "DisputeError",
    "DisputeService",
    "DisputeView",
    "StepView",
    "figures_dict",
]

KIND_LABELS = {
    "neighbour": "邻里纠纷",
    "family": "婚姻家庭纠纷",
    "land": "土地山林纠纷",
    "homestead": "宅基地纠纷",
    "wages": "劳务欠薪纠纷",
    "damages": "损害赔偿纠纷",
    "contract": "合同债务纠纷",
    "other": "其他纠纷",
}
OUTCOME_LABELS = {
    "success": "调解成功",
    "failed": "调解未成功",
    "litigation": "转诉讼",
    "petition": "转信访",
}
SATISFACTION_LABELS = {"satisfied": "满意", "basic": "基本满意", "unsatisfied": "不满意"}
SATISFIED = ("satisfied", "basic")
STATE_LABELS = {"open": "调处中", "closed": "已结案"}


class DisputeError(RecordError):
    """A dispute request that cannot be carried out; the message says why (Chinese)."""


@dataclass(frozen=True, slots=True)
class StepView:
    """One mediation step."""

    day: date
    note: str
    actor: str


@dataclass(frozen=True, slots=True)
class DisputeView:
    """One case as the console shows it, with its steps."""

    id: int
    kind: str
    kind_label: str
    village: str
    village_code: str | None
    parties: str
    summary: str
    mediator: str
    escalation_id: int | None
    record_id: int | None
    opened_on: date
    opened_by: str
    state: str
    state_label: str
    outcome: str | None
    outcome_label: str
    satisfaction: str | None
    satisfaction_label: str
    closed_on: date | None
    steps: tuple[StepView, ...] = ()


@dataclass(frozen=True, slots=True)
class DisputeDraft:
    """What the console pre-fills when a case is opened from an escalation or a record."""

    village_code: str | None
    summary: str
    escalation_id: int | None = None
    record_id: int | None = None


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def figures_dict(lines: list[rm.DisputeCounts]) -> dict[str, Any]:
    """Return the `disputes` section of the report from `record_models.dispute_counts`."""
    total = lines[0]
    outcomes, satisfaction = total.outcomes, total.satisfaction
    rated = sum(satisfaction.get(k, 0) for k in SATISFACTION_LABELS)
    happy = sum(satisfaction.get(k, 0) for k in SATISFIED)
    return {
        "registered": total.registered,
        "open": total.open,
        "closed": total.registered - total.open,
        **{key: outcomes.get(key, 0) for key in OUTCOME_LABELS},
        "mediation_rate": _rate(outcomes.get("success", 0), total.registered),
        "satisfaction": {"satisfied": happy, "rated": rated, "rate": _rate(happy, rated)},
        "by_kind": [
            {
                "kind": line.kind,
                "label": KIND_LABELS.get(line.kind or "", line.kind),
                "registered": line.registered,
                "success": line.outcomes.get("success", 0),
            }
            for line in lines[1:]
        ],
    }


@dataclass
class DisputeService:
    """The dispute register over the database, with the service clock."""

    config: Config
    db: Database
    clock: Callable[[], datetime]

    def today(self) -> date:
        """Return today's date in the town."""
        return self.clock().astimezone(self.config.town.tz).date()

    # --- opening ----------------------------------------------------------------------------

    def draft_from_escalation(self, who: Identity, escalation_id: int) -> DisputeDraft:
        """Pre-fill a case from an escalation: its village and the villager's question (masked)."""
        with self.db.session() as session:
            escalation = session.get(Escalation, escalation_id)
            if escalation is None:
                raise DisputeError(f"没有这件转办咨询 #{escalation_id}")
            self._check(who, escalation.village_code)
            consultation = session.get(Consultation, escalation.consultation_id)
            text = consultation.raw_text if consultation else ""
            return DisputeDraft(
                escalation.village_code, mask_text(text), escalation_id=escalation_id
            )

    def draft_from_record(self, who: Identity, record_id: int) -> DisputeDraft:
        """Pre-fill a case from an offline record: its village and summary."""
        with self.db.session() as session:
            record = session.get(rm.OfflineRecord, record_id)
            if record is None:
                raise DisputeError(f"没有这条记录 #{record_id}")
            self._check(who, record.village_code)
            return DisputeDraft(record.village_code, record.summary, record_id=record_id)

    def open(
        self,
        who: Identity,
        *,
        kind: str,
        village_code: str | None,
        parties: str,
        summary: str,
        mediator: str = "",
        opened_on: date | None = None,
        escalation_id: int | None = None,
        record_id: int | None = None,
    ) -> DisputeView:
        """Register a case (from an escalation or a record when given; one case per source)."""
        if kind not in KIND_LABELS:
            raise DisputeError(f"纠纷类型应为：{'、'.join(KIND_LABELS.values())}")
        opened_on = opened_on or self.today()
        if opened_on > self.today():
            raise DisputeError("登记日期不能晚于今天。")
        parties, summary = mask_text(parties, 500), mask_text(summary)
        if not parties or not summary:
            raise DisputeError("请填写当事人和纠纷简要情况。")
        with self.db.session() as session:
            if escalation_id is not None:
                escalation = session.get(Escalation, escalation_id)
                if escalation is None:
                    raise DisputeError(f"没有这件转办咨询 #{escalation_id}")
                village_code = village_code or escalation.village_code
                self._check(who, escalation.village_code)
                existing = rm.dispute_for_escalation(session=session, escalation_id=escalation_id)
                if existing is not None:
                    raise DisputeError(f"这件转办咨询已登记为纠纷 #{existing.id}")
            if record_id is not None:
                record = session.get(rm.OfflineRecord, record_id)
                if record is None:
                    raise DisputeError(f"没有这条记录 #{record_id}")
                village_code = village_code or record.village_code
                self._check(who, record.village_code)
                existing = rm.dispute_for_record(session=session, record_id=record_id)
                if existing is not None:
                    raise DisputeError(f"这条记录已登记为纠纷 #{existing.id}")
            village_code = village_code or None
            self._check(who, village_code)
            case = rm.DisputeCase(
                kind=kind, village_code=village_code, parties=parties, summary=summary,
                mediator=mask_text(mediator, 64), escalation_id=escalation_id,
                record_id=record_id, opened_on=opened_on, opened_by=who.name,
                created_at=self.clock(),
            )  # fmt: skip
            session.add(case)
            session.flush()
            self._audit(session, who, "dispute.open", case, f"{kind} {village_code or ''}")
            return self._view(case, ())

    # --- working a case ---------------------------------------------------------------------

    def add_step(
        self, who: Identity, dispute_id: int, *, note: str, day: date | None = None
    ) -> None:
        """Record one dated mediation step of an open case."""
        day = day or self.today()
        note = mask_text(note)
        if not note:
            raise DisputeError("请写明这一步做了什么。")
        if day > self.today():
            raise DisputeError("日期不能晚于今天。")
        with self.db.session() as session:
            case = self._case(session, who, dispute_id)
            if case.state != "open":
                raise DisputeError(f"纠纷 #{dispute_id} 已结案。")
            if day < case.opened_on:
                raise DisputeError("调处日期不能早于登记日期。")
            session.add(
                rm.DisputeStep(
                    dispute_id=dispute_id, day=day, note=note, actor=who.name,
                    created_at=self.clock(),
                )
            )  # fmt: skip
            self._audit(session, who, "dispute.step", case, note[:200])

    def close(
        self,
        who: Identity,
        dispute_id: int,
        *,
        outcome: str,
        satisfaction: str | None,
        day: date | None = None,
    ) -> None:
        """Close an open case with its outcome and the parties' satisfaction (None: not asked)."""
        if outcome not in OUTCOME_LABELS:
            raise DisputeError(f"结果应为：{'、'.join(OUTCOME_LABELS.values())}")
        satisfaction = satisfaction or None
        if satisfaction is not None and satisfaction not in SATISFACTION_LABELS:
            raise DisputeError(f"满意度应为：{'、'.join(SATISFACTION_LABELS.values())}")
        day = day or self.today()
        if day > self.today():
            raise DisputeError("日期不能晚于今天。")
        with self.db.session() as session:
            case = self._case(session, who, dispute_id)
            if case.state != "open":
                raise DisputeError(f"纠纷 #{dispute_id} 已结案。")
            if day < case.opened_on:
                raise DisputeError("结案日期不能早于登记日期。")
            case.state, case.outcome, case.satisfaction = "closed", outcome, satisfaction
            case.closed_on, case.closed_by, case.closed_at = day, who.name, self.clock()
            session.add(case)
            self._audit(session, who, "dispute.close", case, f"{outcome} {satisfaction or ''}")

    # --- reading ----------------------------------------------------------------------------

    def get(self, who: Identity, dispute_id: int) -> DisputeView:
        """Return one case with its steps."""
        with self.db.session() as session:
            case = self._case(session, who, dispute_id)
            steps = rm.dispute_steps(session=session, dispute_id=dispute_id)
            return self._view(case, tuple(StepView(s.day, s.note, s.actor) for s in steps))

    def cases(
        self, who: Identity, *, state: str | None = None, village: str | None = None
    ) -> list[DisputeView]:
        """Return the cases this person sees, open ones first."""
        if village:
            self._check(who, village)
        with self.db.session() as session:
            rows = rm.disputes(
                session=session, villages=who.villages, state=state or None, village=village
            )
            return [self._view(c, ()) for c in rows]

    def figures(self, who: Identity, first: date, last: date) -> Mapping[str, Any]:
        """Return 排查 / 化解 / 调结率 / 满意率 of cases registered in [first, last] that `who` sees."""
        with self.db.session() as session:
            lines = rm.dispute_counts(
                session=session, first=first, last=last, villages=who.villages
            )
        return figures_dict(lines)

    # --- internals ----------------------------------------------------------------------------

    def _check(self, who: Identity, village_code: str | None) -> None:
        if village_code is not None and self.config.village(village_code) is None:
            raise DisputeError(f"没有这个村：{village_code}")
        if not who.sees(village_code):
            raise RecordForbidden("这件纠纷不属于您负责的村。")

    def _case(self, session: Any, who: Identity, dispute_id: int) -> rm.DisputeCase:
        case = session.get(rm.DisputeCase, dispute_id)
        if case is None:
            raise DisputeError(f"没有这件纠纷 #{dispute_id}")
        self._check(who, case.village_code)
        assert isinstance(case, rm.DisputeCase)
        return case

    def _audit(
        self, session: Any, who: Identity, action: str, case: rm.DisputeCase, detail: str
    ) -> None:
        cm.add_audit(
            session=session, now=self.clock(), actor=who.name, action=action,
            target=str(case.id), detail=detail,
        )  # fmt: skip

    def _view(self, c: rm.DisputeCase, steps: tuple[StepView, ...]) -> DisputeView:
        assert c.id is not None
        village = self.config.village(c.village_code)
        return DisputeView(
            id=c.id, kind=c.kind, kind_label=KIND_LABELS.get(c.kind, c.kind),
            village=village.name if village else self.config.town.name,
            village_code=c.village_code, parties=c.parties, summary=c.summary,
            mediator=c.mediator, escalation_id=c.escalation_id, record_id=c.record_id,
            opened_on=c.opened_on, opened_by=c.opened_by, state=c.state,
            state_label=STATE_LABELS.get(c.state, c.state), outcome=c.outcome,
            outcome_label=OUTCOME_LABELS.get(c.outcome or "", ""),
            satisfaction=c.satisfaction,
            satisfaction_label=SATISFACTION_LABELS.get(c.satisfaction or "", "未评价"),
            closed_on=c.closed_on, steps=steps,
        )  # fmt: skip
