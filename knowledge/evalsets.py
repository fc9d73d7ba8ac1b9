"""`lawbot eval --set realdev-test|realdev-tune|dev|cross-kb`: the scorecard of the shipped matcher
beside the baselines B1 (rapidfuzz), B2 (bm25s) and B3 (plain e5 cosine), in one run.

* `realdev-tune` / `realdev-test`: the labelled real questions (`knowledge.realqa`). The matcher
  is the shipped one (weights and thresholds fitted on tune: its tune figures are in-sample; the
  fitting's out-of-fold figures are the honest tune estimate, see `knowledge.fitting`).
* `dev`: the project's dev set (gold questions + out_of_scope.yaml).
* `cross-kb`: leave-topic-out (`knowledge.fitting.cross_kb`): topics' KB phrasings and dev
  questions scored by a combiner fitted without those topics, at the shipped thresholds.

Baseline thresholds are chosen on the realdev tune split with the same rule as the matcher's
(`knowledge.scorecard.choose_bands`); before the labels exist, on the scored set itself (noted).
Outputs of other systems (e.g. an older release's `lawbot ask --json`, one line per message in
set order) can be scored beside them with `ask_json`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from knowledge.fitting import (
    FitResult,
    Hyper,
    baseline_scores,
    collect,
    cross_kb,
    dev_cases,
    realistic_cases,
)
from knowledge.matcher import Matcher, MatchSettings, Thresholds
from knowledge.models import KnowledgeBase
from knowledge.realqa import RealQaMissing
from knowledge.scorecard import (
    HEADLINE,
    Case,
    Outcome,
    Scored,
    SystemCard,
    card,
    choose_bands,
    outcomes_at,
)

__all__ = [
    "SETS",
    "EvalReport",
    "SetName",
    "ask_json_outcomes",
    "eval_command",
    "load_cases",
    "run_eval",
    "set_texts",
]

SetName = Literal["realdev-tune", "realdev-test", "dev", "cross-kb"]
SETS: Final[tuple[SetName, ...]] = ("realdev-tune", "realdev-test", "dev", "cross-kb")
_EVAL_DIR: Final = Path(__file__).resolve().parent / "eval"

ROWS: Final[tuple[str, ...]] = (
    *HEADLINE, "oos_answered", "nc_answered", "precision_answer", "precision_confirm",
    "precision_suggest", "share_answer", "share_confirm", "share_suggest", "share_escalate",
    "share_clarify", "long_answered_right", "long_right_offered", "long_confidently_wrong",
    "long_neg_answered",
)  # fmt: skip


@dataclass
class EvalReport:
    """Every system's card on one set."""

    set_name: str
    systems: dict[str, SystemCard]
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "set": self.set_name,
            "systems": {k: v.as_json() for k, v in self.systems.items()},
            "notes": self.notes,
        }

    def table(self) -> str:
        """A text table: one row per measure, one column per system, value [95% CI]."""
        names = list(self.systems)
        first = next(iter(self.systems.values()), None)
        counts = first.counts if first else {}
        head = [f"set: {self.set_name}  " + "  ".join(f"{k}={v}" for k, v in counts.items())]
        width = 24
        head.append(f"{'measure':24}" + "".join(f"{n[:width]:>{width}}" for n in names))
        for row in ROWS:
            cells = []
            for n in names:
                c = self.systems[n]
                v = c.values.get(row, math.nan)
                lo, hi = c.intervals.get(row, (math.nan, math.nan))
                cells.append(
                    f"{'—':>{width}}"
                    if math.isnan(v)
                    else f"{v:>7.3f} [{lo:.3f},{hi:.3f}]".rjust(width)
                )
            head.append(f"{row:24}" + "".join(cells))
        for n in names:
            th = self.systems[n].thresholds
            if th:
                head.append(f"thresholds {n}: " + " ".join(f"{k}={v:.4g}" for k, v in th.items()))
        head.extend(f"note: {x}" for x in self.notes)
        return "\n".join(head)


def load_cases(kb: KnowledgeBase, set_name: str) -> list[Case]:
    """The labelled messages of a set (not cross-kb, which is built per fold)."""
    if set_name == "dev":
        return dev_cases(kb, _EVAL_DIR)
    if set_name in ("realdev-tune", "realdev-test"):
        from knowledge.fitting import with_topics
        from knowledge.realqa import real_set

        part: Literal["tune", "test"] = "tune" if set_name == "realdev-tune" else "test"
        known = [e.id for e in kb.entries]
        return with_topics(
            kb, [Case(m.id, m.text, m.label, m.gold) for m in real_set(part, known)]
        )
    raise ValueError(f"unknown set {set_name!r}; one of {SETS}")


def ask_json_outcomes(lines: Sequence[str]) -> list[Outcome]:
    """Outcomes from `lawbot ask --json` output lines (any release), one per message."""
    out: list[Outcome] = []
    for line in lines:
        if not line.strip():
            continue
        obj = json.loads(line)
        decision = obj.get("decision")
        listed = tuple(str(s["faq_id"]) for s in obj.get("suggestions") or ())
        faq = obj.get("faq_id")
        if decision == "answer":
            out.append(Outcome("answer", (str(faq),), str(faq)))
        elif decision == "confirm":
            shown = (str(faq), *listed)[:3]
            out.append(Outcome("confirm", shown, str(faq)))
        elif decision == "suggest":
            out.append(Outcome("suggest", listed[:3], listed[0] if listed else None))
        elif decision == "clarify":
            out.append(Outcome("clarify", (), None))
        else:
            out.append(Outcome("escalate", (), None))
    return out


def _matcher_outcomes(matcher: Matcher, cases: Sequence[Case]) -> list[Outcome]:
    """The shipped decision for each message (same path as `Matcher.match`, cached vectors)."""
    from knowledge.scorecard import outcome_of

    return [
        outcome_of(matcher.decide(s.feats, matcher.scores(s.feats)))
        for s in collect(matcher, cases)
    ]


def run_eval(
    kb: KnowledgeBase,
    set_name: str,
    settings: MatchSettings,
    *,
    rounds: int = 1000,
    baselines: bool = True,
    extra: dict[str, list[Outcome]] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> EvalReport:
    """Score the shipped matcher (and baselines, and `extra` systems) on one set."""
    matcher = Matcher(kb, settings)
    notes: list[str] = []
    try:
        tune = realistic_cases(kb, "realdev", _EVAL_DIR)
    except RealQaMissing as exc:
        tune = []
        notes.append(f"no realdev tune labels ({exc}): baseline thresholds chosen on this set")
    if set_name == "cross-kb":
        cases, systems = _cross_kb(matcher, tune, notes, progress, rounds)
    else:
        cases = load_cases(kb, set_name)
        progress(f"{set_name}: {len(cases)} messages")
        systems = {"matcher": card(cases, _matcher_outcomes(matcher, cases), rounds=rounds,
                                   thresholds=matcher.thresholds)}  # fmt: skip
        if set_name == "realdev-tune":
            notes.append("matcher figures on tune are in-sample (fitted there); see the fit log")
    if extra:
        for name, outs in extra.items():
            systems[name] = card(cases, outs, rounds=rounds)
    if baselines:
        progress("baselines")
        ranked = baseline_scores(matcher, cases)
        tuned = baseline_scores(matcher, tune) if tune and set_name != "realdev-tune" else {}
        for name, scored in ranked.items():
            ref_cases, ref = (tune, tuned[name]) if name in tuned else (cases, scored)
            th = choose_bands(ref_cases, ref)
            systems[name] = card(cases, outcomes_at(scored, th), thresholds=th, rounds=rounds)
    return EvalReport(set_name, systems, notes)


def _cross_kb(
    matcher: Matcher,
    tune: list[Case],
    notes: list[str],
    progress: Callable[[str], None],
    rounds: int,
) -> tuple[list[Case], dict[str, SystemCard]]:
    from knowledge.matcher_weights import WEIGHTS

    mode = "semantic" if matcher.semantic else "lexical"
    raw = WEIGHTS.get(mode, {}).get("hyper") or {}
    hyper = Hyper(float(raw.get("w_real", 3.0)), float(raw.get("l2", 1.0)))
    th: Thresholds = matcher.thresholds
    queries = dev_cases(matcher.kb, _EVAL_DIR)
    if not tune:
        notes.append("fitted on KB variants only in each fold (no tune labels yet)")
    progress("cross-kb: collecting")
    real = collect(matcher, tune) if tune else []
    cases, scored = cross_kb(matcher, real, queries, hyper)
    notes.append(
        f"leave-topic-out over {len(matcher.kb.topics)} topics in 4 folds; "
        f"shipped thresholds {th.as_dict()}"
    )
    systems = {
        "matcher (topic held out)": card(
            cases, outcomes_at(scored, th), thresholds=th, rounds=rounds
        )
    }
    return cases, systems


def fit_summary(fit: FitResult, rounds: int = 1000) -> SystemCard:
    """The honest tune card of a fit: out-of-fold scores at the chosen thresholds."""
    return card(fit.oof_cases, outcomes_at(fit.oof, fit.thresholds), thresholds=fit.thresholds,
                rounds=rounds)  # fmt: skip


def scored_card(cases: Sequence[Case], scored: Sequence[Scored], th: Thresholds) -> SystemCard:
    """Card of ranked outputs at thresholds (helper for notebooks and tests)."""
    return card(cases, outcomes_at(scored, th), thresholds=th)


def eval_command(
    set_name: str,
    *,
    kb_dir: Path | None = None,
    semantic: bool | None = None,
    cache_dir: Path | None = None,
    rounds: int = 1000,
    baselines: bool = True,
    as_json: bool = False,
    ask_outputs: dict[str, Path] | None = None,
    settings: MatchSettings | None = None,
    knowledge: KnowledgeBase | None = None,
) -> str:
    """Everything `lawbot eval --set NAME` prints: the text table, or the JSON document.

    `knowledge` is the KB as the CLI loads it (template fields filled); else `kb_dir` is read.
    """
    from dataclasses import replace

    from knowledge.loader import default_kb_dir, load_kb

    kb = knowledge if knowledge is not None else load_kb(kb_dir or default_kb_dir())
    base = settings or MatchSettings()
    base = replace(
        base,
        semantic=base.semantic if semantic is None else semantic,
        cache_dir=cache_dir or base.cache_dir,
    )
    extra = {
        name: ask_json_outcomes(path.read_text(encoding="utf-8").splitlines())
        for name, path in (ask_outputs or {}).items()
    }
    report = run_eval(kb, set_name, base, rounds=rounds, baselines=baselines, extra=extra)
    if as_json:
        return json.dumps(report.as_json(), ensure_ascii=False, indent=1)
    return report.table()


def set_texts(set_name: str, kb_dir: Path | None = None) -> list[str]:
    """The messages of a set in order, one line each (to feed another release's `lawbot ask`)."""
    from knowledge.loader import default_kb_dir, load_kb

    kb = load_kb(kb_dir or default_kb_dir())
    return [" ".join(c.text.split()) for c in load_cases(kb, set_name)]


def main(argv: list[str] | None = None) -> int:
    """`python -m knowledge.evalsets --set NAME [--json] [--semantic] [--ask NAME=FILE ...]`."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set", dest="set_name", choices=SETS, required=True)
    parser.add_argument("--kb", type=Path, default=None)
    parser.add_argument("--semantic", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--ask", action="append", default=[], metavar="NAME=FILE")
    parser.add_argument("--texts", action="store_true", help="print the set's messages and stop")
    args = parser.parse_args(argv)
    if args.texts:
        sys.stdout.write("".join(t + "\n" for t in set_texts(args.set_name, args.kb)))
        return 0
    outputs = dict(item.split("=", 1) for item in args.ask)
    sys.stdout.write(
        eval_command(
            args.set_name,
            kb_dir=args.kb,
            semantic=args.semantic,
            cache_dir=args.cache_dir,
            rounds=args.rounds,
            baselines=not args.no_baselines,
            as_json=args.json,
            ask_outputs={k: Path(v) for k, v in outputs.items()},
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
