"""The issue-13 scorecard: what a villager gets, per message, over a labelled set. Pure functions.

Every message has a label: `entry` (gold entry ids, any counts as right), `not_covered` (in scope,
no entry answers it) or `out_of_scope`; "negatives" are the last two. A system's outcome for a
message is its decision (answer / confirm / suggest / escalate / clarify) and the entries it shows
(the answered one; the confirmed one and two alternatives; the listed ones). Measures:

* `answered_right`: messages with a gold entry answered or confirmed with a gold entry;
* `right_offered`: messages with a gold entry where a gold entry is answered, confirmed or among
  the (up to three) entries shown by confirm / suggest;
* `confidently_wrong`: answer band with a wrong entry (negatives included), share of ALL messages;
* `wrong_shown`: the same for answer or confirm (a wrong confirm is a wrong answer too);
* `neg_answered`: negatives answered or confirmed (also per label: `oos_answered`,
  `nc_answered`);
* per-band precision (`precision_answer`, `precision_confirm`, `precision_suggest` = a gold
  entry among those listed) and band shares; `top1` over messages with a gold entry;
* the same headline measures on the long-story slice (≥ `LONG` characters), prefixed `long_`.

Intervals are percentile bootstrap 95% over messages (`rounds` resamples, fixed seed).
`choose_bands` picks thresholds for a scored system by the issue's rule (on tune data only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from knowledge.matcher import MatchDecision, MatchResult, Thresholds, decide_band
from knowledge.realqa import Label
from knowledge.signals import FloatArray

__all__ = [
    "HEADLINE",
    "LONG",
    "Case",
    "Outcome",
    "Scored",
    "SystemCard",
    "card",
    "choose_bands",
    "outcome_of",
    "outcomes_at",
]

LONG: Final = 60  # characters: the long-story slice
CONFIDENT_WRONG_LIMIT: Final = 0.01  # answer band, wrong entry: share of all messages
NEG_ANSWERED_LIMIT: Final = 0.05  # negatives answered or confirmed: share of negatives
CONFIRM_PRECISION_FLOOR: Final = 0.70  # a confirm band right less often is a list in disguise
SUGGEST_KEEP: Final = 0.95  # τ_low keeps this share of the right entries a list would show
BOOTSTRAP: Final = 1000
_NONE: Final = -1e9  # the score of "no candidate"

HEADLINE: Final[tuple[str, ...]] = (
    "answered_right", "right_offered", "confidently_wrong", "wrong_shown", "neg_answered", "top1",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Case:
    """One labelled message; `phrasing` / `hide_entry` hide KB rows (leave-one-out cases)."""

    id: str
    text: str
    label: Label
    gold: tuple[str, ...] = ()
    phrasing: int | None = None
    hide_entry: int | None = None
    topic: str = ""  # the gold entry's topic key (cross-KB folds), "" for negatives

    @property
    def negative(self) -> bool:
        """True for not_covered and out_of_scope messages."""
        return self.label != "entry"


@dataclass(frozen=True, slots=True)
class Scored:
    """A ranked system output: entry ids best first, their scores, and whether content was found."""

    ids: tuple[str, ...]
    scores: tuple[float, ...]
    content: bool = True


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the villager sees: the decision and the entries shown (answered / confirmed first)."""

    decision: MatchDecision
    shown: tuple[str, ...]
    top: str | None


def outcome_of(result: MatchResult) -> Outcome:
    """The outcome of a matcher's `MatchResult` (exactly what `lawbot ask` gives)."""
    ids = tuple(c.entry.id for c in result.candidates)
    if result.decision == "answer":
        return Outcome("answer", ids[:1], ids[0] if ids else None)
    if result.decision in ("confirm", "suggest"):
        return Outcome(result.decision, ids[:3], ids[0] if ids else None)
    return Outcome(result.decision, (), ids[0] if ids else None)


def outcomes_at(scored: Sequence[Scored], th: Thresholds) -> list[Outcome]:
    """Outcomes of ranked outputs under thresholds `th`."""
    out: list[Outcome] = []
    for s in scored:
        top = s.ids[0] if s.ids else None
        if not s.content:
            out.append(Outcome("clarify", (), top))
            continue
        if not s.ids:
            out.append(Outcome("escalate", (), None))
            continue
        band = decide_band(s.scores[0], s.scores[1] if len(s.scores) > 1 else -math.inf, th)
        shown = s.ids[:1] if band == "answer" else s.ids[:3] if band != "escalate" else ()
        out.append(Outcome(band, shown, top))
    return out


# -- per-message columns -----------------------------------------------------------------------

_COLS: Final = (
    "gold", "neg", "oos", "nc", "long", "top_right", "answer", "confirm", "suggest", "escalate",
    "clarify", "right_shown", "right_answer", "right_confirm", "offered", "wrong_answer",
    "wrong_shown", "neg_answered", "oos_answered", "nc_answered", "suggest_hit",
)  # fmt: skip


def _columns(cases: Sequence[Case], outcomes: Sequence[Outcome]) -> FloatArray:
    rows = np.zeros((len(cases), len(_COLS)), np.float32)
    for i, (c, o) in enumerate(zip(cases, outcomes, strict=True)):
        gold = set(c.gold)
        top_right = c.label == "entry" and o.top is not None and o.top in gold
        shown_first = o.shown[0] if o.shown else None
        right_first = c.label == "entry" and shown_first is not None and shown_first in gold
        hit = c.label == "entry" and any(e in gold for e in o.shown)
        answered = o.decision in ("answer", "confirm")
        v = {
            "gold": c.label == "entry",
            "neg": c.negative,
            "oos": c.label == "out_of_scope",
            "nc": c.label == "not_covered",
            "long": len(c.text) >= LONG,
            "top_right": top_right,
            o.decision: True,
            "right_shown": answered and right_first,
            "right_answer": o.decision == "answer" and right_first,
            "right_confirm": o.decision == "confirm" and right_first,
            "offered": (answered and right_first)
            or (o.decision in ("confirm", "suggest") and hit),
            "wrong_answer": o.decision == "answer" and not right_first,
            "wrong_shown": answered and not right_first,
            "neg_answered": c.negative and answered,
            "oos_answered": c.label == "out_of_scope" and answered,
            "nc_answered": c.label == "not_covered" and answered,
            "suggest_hit": o.decision == "suggest" and hit,
        }
        for k, val in v.items():
            rows[i, _COLS.index(k)] = float(val)
    return rows


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1e-12), np.nan).astype(np.float32)


def _summaries(sums: FloatArray, long_sums: FloatArray, n: FloatArray) -> dict[str, FloatArray]:
    """Measures from column sums (rows = bootstrap rounds, or one row for the point estimate)."""

    def col(a: FloatArray, name: str) -> FloatArray:
        return a[:, _COLS.index(name)]

    out: dict[str, FloatArray] = {}
    for prefix, s, total in (("", sums, n), ("long_", long_sums, col(long_sums, "long"))):
        g, neg = col(s, "gold"), col(s, "neg")
        out[prefix + "answered_right"] = _ratio(col(s, "right_shown"), g)
        out[prefix + "right_offered"] = _ratio(col(s, "offered"), g)
        out[prefix + "confidently_wrong"] = _ratio(col(s, "wrong_answer"), total)
        out[prefix + "wrong_shown"] = _ratio(col(s, "wrong_shown"), total)
        out[prefix + "neg_answered"] = _ratio(col(s, "neg_answered"), neg)
        out[prefix + "top1"] = _ratio(col(s, "top_right"), g)
        if prefix:
            continue
        out["oos_answered"] = _ratio(col(s, "oos_answered"), col(s, "oos"))
        out["nc_answered"] = _ratio(col(s, "nc_answered"), col(s, "nc"))
        out["precision_answer"] = _ratio(col(s, "right_answer"), col(s, "answer"))
        out["precision_confirm"] = _ratio(col(s, "right_confirm"), col(s, "confirm"))
        out["precision_suggest"] = _ratio(col(s, "suggest_hit"), col(s, "suggest"))
        for band in ("answer", "confirm", "suggest", "escalate", "clarify"):
            out["share_" + band] = _ratio(col(s, band), total)
    return out


@dataclass(frozen=True, slots=True)
class SystemCard:
    """One system's measures on one set: values, bootstrap 95% intervals, counts, thresholds."""

    values: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    counts: dict[str, int]
    thresholds: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        """JSON-ready form (NaN as null)."""

        def clean(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 4)

        return {
            "values": {k: clean(v) for k, v in self.values.items()},
            "ci95": {k: [clean(a), clean(b)] for k, (a, b) in self.intervals.items()},
            "counts": self.counts,
            "thresholds": {k: round(v, 4) for k, v in self.thresholds.items()},
        }


def card(
    cases: Sequence[Case],
    outcomes: Sequence[Outcome],
    *,
    thresholds: Thresholds | None = None,
    rounds: int = BOOTSTRAP,
    seed: int = 0,
) -> SystemCard:
    """Measures with bootstrap 95% intervals (resampling messages)."""
    rows = _columns(cases, outcomes)
    long_mask = rows[:, _COLS.index("long")][:, None]
    n = len(cases)
    point = _summaries(
        rows.sum(0, keepdims=True), (rows * long_mask).sum(0, keepdims=True), np.asarray([n])
    )
    values = {k: float(v[0]) for k, v in point.items()}
    intervals: dict[str, tuple[float, float]] = dict.fromkeys(values, (math.nan, math.nan))
    if n and rounds:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(rounds, n))
        counts = np.zeros((rounds, n), np.float32)
        np.add.at(counts, (np.repeat(np.arange(rounds), n), idx.ravel()), 1.0)
        sums = counts @ rows
        long_sums = counts @ (rows * long_mask)
        boot = _summaries(sums, long_sums, np.full(rounds, n, np.float32))
        for k, v in boot.items():
            ok = v[~np.isnan(v)]
            if ok.size:
                lo, hi = np.percentile(ok, [2.5, 97.5])
                intervals[k] = (float(lo), float(hi))
    total = rows.sum(0)
    counts_out = {
        "messages": n,
        "gold": int(total[_COLS.index("gold")]),
        "out_of_scope": int(total[_COLS.index("oos")]),
        "not_covered": int(total[_COLS.index("nc")]),
        "long": int(total[_COLS.index("long")]),
    }
    th = thresholds.as_dict() if thresholds is not None else {}
    return SystemCard(values, intervals, counts_out, th)


# -- choosing thresholds -----------------------------------------------------------------------


def choose_bands(cases: Sequence[Case], scored: Sequence[Scored]) -> Thresholds:
    """Pick (answer, δ, confirm, suggest) on tune data by the issue's rule.

    1. τ_confirm: the lowest threshold with negatives answered or confirmed ≤ 5% and confirm-band
       precision ≥ 70%: every message at or above it is answered (with or without a check), so
       this maximises answered-right.
    2. (τ_answer, δ): most messages answered right without a check, with confidently wrong
       (answer band, wrong entry, any message) ≤ 1% of all messages; τ_answer ≥ τ_confirm.
    3. τ_low: as high as possible while keeping 95% of the below-confirm messages whose gold entry
       a list would show.
    """
    tops = np.asarray([s.scores[0] if s.ids and s.content else _NONE for s in scored])
    seconds = np.asarray(
        [s.scores[1] if len(s.scores) > 1 and s.content else _NONE for s in scored]
    )
    right = np.asarray(
        [bool(s.ids) and s.ids[0] in c.gold for c, s in zip(cases, scored, strict=True)]
    )
    in3 = np.asarray(
        [any(e in c.gold for e in s.ids[:3]) for c, s in zip(cases, scored, strict=True)]
    )
    neg = np.asarray([c.negative for c in cases])
    n, n_neg = len(cases), max(int(neg.sum()), 1)
    finite = np.sort(np.unique(tops[tops > _NONE]))
    grid = [*finite.tolist(), float(finite.max()) + 0.001 if finite.size else 1.0]
    # 1. confirm threshold (answer band counts too: everything ≥ τ_confirm is shown as answered)
    confirm = grid[-1]
    for tau in grid:
        shown = tops >= tau
        wrong_in = shown & ~right
        if (shown & neg).sum() / n_neg <= NEG_ANSWERED_LIMIT and (
            shown.sum() == 0 or 1 - wrong_in.sum() / shown.sum() >= CONFIRM_PRECISION_FLOOR
        ):
            confirm = tau
            break
    # 2. answer threshold and lead
    best: tuple[float, float, float] | None = None  # (right answers, tau, delta)
    for tau in [t for t in grid if t >= confirm]:
        for delta in (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3):
            ans = (tops >= tau) & (tops - seconds >= delta)
            if (ans & ~right).sum() / max(n, 1) > CONFIDENT_WRONG_LIMIT:
                continue
            key = float((ans & right).sum())
            if best is None or key > best[0] or (key == best[0] and tau < best[1]):
                best = (key, tau, delta)
    answer, delta = (best[1], best[2]) if best is not None else (grid[-1], 0.0)
    # 3. suggest threshold
    below = (tops < confirm) & in3 & (tops > _NONE)
    hits = np.sort(tops[below])
    suggest = float(hits[int((1 - SUGGEST_KEEP) * len(hits))]) if hits.size else confirm
    return Thresholds(
        answer=float(answer), delta=float(delta), confirm=float(confirm),
        suggest=float(min(suggest, confirm)),
    )  # fmt: skip
