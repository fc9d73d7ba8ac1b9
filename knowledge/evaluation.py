"""Evaluation of the matcher and of three baselines; training of the combiner. Pure functions.

Two evaluation sources:

* the dev set (`knowledge/eval/dev/*.yaml`: `[{q, gold}]`, `knowledge/eval/out_of_scope.yaml`:
  `[{q}]`), when present;
* leave-one-out on the KB itself: every phrasing is asked with that phrasing hidden from the index
  (in scope), and every entry's canonical question is asked with the whole entry hidden
  (a near-miss out-of-scope question).

Baselines, each with its best threshold on the same queries: B1 rapidfuzz WRatio over all
phrasings, B2 bm25s over jieba tokens, B3 e5-small cosine alone. Thresholds (the matcher's τ_high,
δ, τ_low and each baseline's single threshold) are chosen by one rule, `choose_thresholds`:
maximise correct answers on in-scope queries subject to out-of-scope false answers ≤ 4% and
precision of answers ≥ 97%.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from knowledge.matcher import (
    FEATURES,
    Combiner,
    Matcher,
    MatchSettings,
    QueryFeatures,
)
from knowledge.signals import FloatArray, pool_max

__all__ = [
    "DevQuery",
    "DevSetReport",
    "Metrics",
    "Ranked",
    "choose_thresholds",
    "evaluate",
    "fit_logistic",
    "load_dev",
    "loo_queries",
    "metrics",
    "train_combiner",
]

FALSE_ANSWER_LIMIT = 0.04
PRECISION_FLOOR = 0.97
BOOTSTRAP = 1000


@dataclass(frozen=True, slots=True)
class DevQuery:
    """One evaluation question: gold entry id, or None for out-of-scope."""

    q: str
    gold: str | None
    phrasing: int | None = None  # leave-one-out: the hidden phrasing
    hide_entry: int | None = None  # leave-one-out: the hidden entry


@dataclass(frozen=True, slots=True)
class Ranked:
    """A system's output for one query: ranked entry ids with scores, and its decision."""

    ids: tuple[str, ...]
    scores: tuple[float, ...]
    decision: str = ""


@dataclass(frozen=True, slots=True)
class Metrics:
    """Point estimates and bootstrap 95% intervals (lo, hi) per metric name."""

    values: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    thresholds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DevSetReport:
    """Metrics of every system on one evaluation source."""

    source: str
    n_in: int
    n_out: int
    systems: dict[str, Metrics]


# -- data -------------------------------------------------------------------------------------


def load_dev(eval_dir: Path) -> tuple[list[DevQuery], list[DevQuery]]:
    """Read the dev set: (in-scope queries with gold ids, out-of-scope queries)."""
    inside: list[DevQuery] = []
    for path in sorted((eval_dir / "dev").glob("*.yaml")):
        for item in _yaml_list(path):
            if isinstance(item, dict) and isinstance(item.get("q"), str) and item.get("gold"):
                inside.append(DevQuery(item["q"], str(item["gold"])))
    outside = [
        DevQuery(item["q"], None)
        for item in _yaml_list(eval_dir / "out_of_scope.yaml")
        if isinstance(item, dict) and isinstance(item.get("q"), str)
    ]
    return inside, outside


def _yaml_list(path: Path) -> list[Any]:
    if not path.is_file():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, list) else []


def loo_queries(matcher: Matcher) -> tuple[list[DevQuery], list[DevQuery]]:
    """Leave-one-out queries: every phrasing (hidden), every canonical question (entry hidden)."""
    inside: list[DevQuery] = []
    outside: list[DevQuery] = []
    for ei, entry in enumerate(matcher.entries):
        lo = int(matcher.starts[ei])
        if len(entry.phrasings) >= 2:
            inside.extend(
                DevQuery(text, entry.id, phrasing=lo + k) for k, text in enumerate(entry.phrasings)
            )
        outside.append(DevQuery(entry.question, None, hide_entry=ei))
    return inside, outside


def _features(matcher: Matcher, dq: DevQuery) -> QueryFeatures:
    vec = None
    if dq.phrasing is not None and matcher._emb is not None:
        vec = matcher.phrasing_vector(dq.phrasing)
    normalized = matcher.phrasings[dq.phrasing] if dq.phrasing is not None else None
    return matcher.features(
        dq.q,
        normalized=normalized,
        vec=vec,
        exclude_phrasing=dq.phrasing,
        exclude_entry=dq.hide_entry,
    )


# -- combiner training ------------------------------------------------------------------------


def fit_logistic(
    x: FloatArray, y: npt.NDArray[np.float64], l2: float = 1.0, iters: int = 50
) -> tuple[FloatArray, float]:
    """L2-regularised logistic regression by Newton's method: (coef, intercept)."""
    n, d = x.shape
    xb = np.hstack([x.astype(np.float64), np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -30, 30)))
        grad = xb.T @ (p - y) + reg * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-7:
            break
    return w[:-1].astype(np.float32), float(w[-1])


def _collect(
    matcher: Matcher, queries: Sequence[DevQuery]
) -> list[tuple[QueryFeatures, DevQuery]]:
    return [(_features(matcher, dq), dq) for dq in queries]


def train_combiner(
    matcher: Matcher,
    names: Sequence[str] | None = None,
    l2: float = 1.0,
    negatives: bool = True,
) -> Combiner:
    """Learn the combiner leave-one-phrasing-out on the matcher's KB, then Platt-calibrate.

    Rows are (query, candidate) pairs labelled 1 when the candidate is the hidden phrasing's
    entry. With `negatives`, entry-hidden canonical questions add all-negative candidate lists
    (near-miss out-of-scope questions). Calibration fits P(top-1 is right) on the top candidate of
    every query, so a score reads as the probability of being right.
    """
    semantic = matcher._emb is not None
    if names is None:
        names = [n for n in FEATURES if semantic or not n.startswith("e5")]
    inside, outside = loo_queries(matcher)
    data = _collect(matcher, [*inside, *(outside if negatives else [])])
    cols = [FEATURES.index(n) for n in names]
    xs: list[FloatArray] = []
    ys: list[float] = []
    for feats, dq in data:
        if not feats.entries:
            continue
        xs.append(feats.rows[:, cols])
        ys.extend(float(matcher.entries[e].id == dq.gold) for e in feats.entries)
    x = np.vstack(xs) if xs else np.zeros((0, len(cols)), np.float32)
    y = np.asarray(ys, dtype=np.float64)
    mean = x.mean(axis=0) if len(x) else np.zeros(len(cols))
    scale = x.std(axis=0) if len(x) else np.ones(len(cols))
    scale = np.where(scale < 1e-6, 1.0, scale)
    coef, intercept = fit_logistic(((x - mean) / scale).astype(np.float32), y, l2=l2)
    comb = Combiner(
        names=tuple(names),
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        coef=tuple(float(v) for v in coef),
        intercept=intercept,
    )
    # Platt: top candidate's raw logit → was it right?
    logits: list[float] = []
    right: list[float] = []
    for feats, dq in data:
        if not feats.entries:
            continue
        raw = comb.raw(feats.rows)
        j = int(np.argmax(raw))
        logits.append(float(raw[j]))
        right.append(float(matcher.entries[feats.entries[j]].id == dq.gold))
    if logits and 0 < sum(right) < len(right):
        a, b = fit_logistic(np.asarray(logits, np.float32)[:, None], np.asarray(right), l2=1e-3)
        comb = Combiner(comb.names, comb.mean, comb.scale, comb.coef, intercept, (float(a[0]), b))
    return comb


# -- running systems --------------------------------------------------------------------------


def run_matcher(matcher: Matcher, queries: Sequence[DevQuery]) -> list[Ranked]:
    """The matcher's ranked candidates for each query (leave-one-out aware)."""
    out: list[Ranked] = []
    for dq in queries:
        feats = _features(matcher, dq)
        scores = matcher.scores(feats)
        order = np.argsort(-scores, kind="stable")[:5]
        out.append(
            Ranked(
                tuple(matcher.entries[feats.entries[int(j)]].id for j in order),
                tuple(float(scores[j]) for j in order),
                "clarify" if not feats.content else "",
            )
        )
    return out


class Baseline:
    """A single-signal system over all raw phrasings: phrasing scores → entry max."""

    def __init__(self, name: str, matcher: Matcher, score: Callable[[str], FloatArray]) -> None:
        self.name = name
        self._matcher = matcher
        self._score = score

    def run(self, queries: Sequence[DevQuery]) -> list[Ranked]:
        """Ranked entries for each query (hidden phrasing / entry masked out)."""
        out: list[Ranked] = []
        for dq in queries:
            ids, scores = top_entries(
                self._matcher, self._score(dq.q), phrasing=dq.phrasing, hide_entry=dq.hide_entry
            )
            out.append(Ranked(ids, scores))
        return out


def baselines(matcher: Matcher, semantic: bool = True) -> list[Baseline]:
    """B1 WRatio, B2 bm25s over jieba tokens, B3 e5 cosine (when semantic): raw phrasings."""
    import bm25s
    from rapidfuzz import fuzz, process, utils

    raw = [p for e in matcher.entries for p in e.phrasings]
    tok = matcher._tok

    def b1(q: str) -> FloatArray:
        row = process.cdist([q], raw, scorer=fuzz.WRatio, processor=utils.default_process)
        return np.asarray(row[0], dtype=np.float32) / 100.0

    retriever = bm25s.BM25()
    retriever.index([tok.words(p) or ["∅"] for p in raw], show_progress=False)

    def b2(q: str) -> FloatArray:
        words = [w for w in tok.words(q) if w.strip()]
        if not words:
            return np.zeros(len(raw), np.float32)
        return np.asarray(retriever.get_scores(words), dtype=np.float32)

    systems = [Baseline("B1 WRatio", matcher, b1), Baseline("B2 bm25s", matcher, b2)]
    if semantic:
        from knowledge.semantic import Embedder, embed_phrasings

        emb = Embedder()
        matrix = embed_phrasings(emb, raw, matcher.cache_dir, "raw-" + matcher.kb.fingerprint)

        def b3(q: str) -> FloatArray:
            return (matrix.matrix @ emb.query(q)).astype(np.float32)

        systems.append(Baseline("B3 e5", matcher, b3))
    return systems


# -- metrics ----------------------------------------------------------------------------------


def _decide(r: Ranked, tau_high: float, delta: float, tau_low: float) -> str:
    if r.decision == "clarify":
        return "clarify"
    best = r.scores[0] if r.scores else 0.0
    second = r.scores[1] if len(r.scores) > 1 else 0.0
    if best >= tau_high and best - second >= delta:
        return "answer"
    return "suggest" if best >= tau_low else "escalate"


def _per_query(
    inside: Sequence[Ranked],
    gold: Sequence[str | None],
    outside: Sequence[Ranked],
    th: tuple[float, float, float],
    k_suggest: int = 3,
) -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
    """Per-query 0/1 (or reciprocal rank) columns for in-scope and out-of-scope queries."""
    cols_in: dict[str, list[float]] = {k: [] for k in ("top1", "mrr5", "answered", "correct",
                                                        "wrong", "right_or_suggested")}  # fmt: skip
    for r, g in zip(inside, gold, strict=True):
        d = _decide(r, *th)
        rank = next((i + 1 for i, e in enumerate(r.ids[:5]) if e == g), 0)
        cols_in["top1"].append(float(rank == 1))
        cols_in["mrr5"].append(1.0 / rank if rank else 0.0)
        cols_in["answered"].append(float(d == "answer"))
        cols_in["correct"].append(float(d == "answer" and rank == 1))
        cols_in["wrong"].append(float(d == "answer" and rank != 1))
        suggested = d == "suggest" and 0 < rank <= k_suggest
        cols_in["right_or_suggested"].append(float((d == "answer" and rank == 1) or suggested))
    cols_out = {"false_answer": [float(_decide(r, *th) == "answer") for r in outside]}
    return (
        {k: np.asarray(v) for k, v in cols_in.items()},
        {k: np.asarray(v) for k, v in cols_out.items()},
    )


def _summary(cin: dict[str, FloatArray], cout: dict[str, FloatArray]) -> dict[str, float]:
    answered = float(cin["answered"].sum())
    return {
        "top1": _mean(cin["top1"]),
        "mrr5": _mean(cin["mrr5"]),
        "coverage": _mean(cin["answered"]),
        "precision": float(cin["correct"].sum()) / answered if answered else 1.0,
        "answer_correct": _mean(cin["correct"]),
        "right_or_suggested": _mean(cin["right_or_suggested"]),
        "oos_false_answer": _mean(cout["false_answer"]),
    }


def _mean(a: FloatArray) -> float:
    return float(a.mean()) if a.size else 0.0


def metrics(
    inside: Sequence[Ranked],
    gold: Sequence[str | None],
    outside: Sequence[Ranked],
    th: tuple[float, float, float],
    seed: int = 0,
    rounds: int = BOOTSTRAP,
) -> Metrics:
    """Metrics at thresholds `th` = (τ_high, δ, τ_low), with bootstrap 95% intervals."""
    cin, cout = _per_query(inside, gold, outside, th)
    values = _summary(cin, cout)
    rng = np.random.default_rng(seed)
    n_in, n_out = len(inside), len(outside)
    samples: dict[str, list[float]] = {k: [] for k in values}
    for _ in range(rounds if n_in else 0):
        i = rng.integers(0, n_in, n_in)
        o = rng.integers(0, n_out, n_out) if n_out else np.zeros(0, dtype=np.int64)
        s = _summary({k: v[i] for k, v in cin.items()}, {k: v[o] for k, v in cout.items()})
        for k, v in s.items():
            samples[k].append(v)
    intervals = {
        k: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))) if v else (math.nan,) * 2
        for k, v in samples.items()
    }
    names = ("tau_high", "delta", "tau_low")
    return Metrics(values, intervals, dict(zip(names, th, strict=True)))


def choose_thresholds(
    inside: Sequence[Ranked],
    gold: Sequence[str | None],
    outside: Sequence[Ranked],
    *,
    with_delta: bool = True,
    grid: Iterable[float] | None = None,
) -> tuple[float, float, float]:
    """Pick (τ_high, δ, τ_low): most correct answers with OOS false answers ≤ 4% and precision
    ≥ 97%; then τ_low as high as possible while keeping 95% of the right suggestions."""
    tops = sorted({round(s, 3) for r in (*inside, *outside) for s in r.scores[:1]})
    highs = list(grid) if grid is not None else _quantile_grid(tops, 60)
    deltas = [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4] if with_delta else [0.0]
    best: tuple[float, float, float, float] | None = None  # (correct, -tau, tau, delta)
    fallback: tuple[float, float] = ((max(tops) + 1.0) if tops else 1.01, 0.0)
    for tau in highs:
        for delta in deltas:
            cin, cout = _per_query(inside, gold, outside, (tau, delta, 0.0))
            s = _summary(cin, cout)
            ok = s["oos_false_answer"] <= FALSE_ANSWER_LIMIT and s["precision"] >= PRECISION_FLOOR
            if ok and (best is None or (s["answer_correct"], -tau) > (best[0], best[1])):
                best = (s["answer_correct"], -tau, tau, delta)
    tau_high, delta = (best[2], best[3]) if best else fallback
    # τ_low: keep 95% of the in-scope queries whose gold is among the top 3 (not answered).
    hits = sorted(
        r.scores[0]
        for r, g in zip(inside, gold, strict=True)
        if g in r.ids[:3] and _decide(r, tau_high, delta, 0.0) != "answer" and r.scores
    )
    tau_low = hits[int(0.05 * len(hits))] if hits else min(tau_high, 0.1)
    return float(tau_high), float(delta), float(min(tau_low, tau_high))


def _quantile_grid(values: Sequence[float], n: int) -> list[float]:
    if not values:
        return [0.5]
    qs = np.quantile(np.asarray(values), np.linspace(0, 1, n))
    return sorted({round(float(v), 4) for v in qs})


# -- the whole evaluation ---------------------------------------------------------------------


def evaluate(
    matcher: Matcher,
    eval_dir: Path | None = None,
    *,
    with_baselines: bool = True,
    fixed: MatchSettings | None = None,
    rounds: int = BOOTSTRAP,
) -> DevSetReport:
    """Evaluate the matcher (and baselines) on the dev set if present, else leave-one-out.

    The matcher is reported twice: at its configured thresholds (`fixed`, default the matcher's
    settings) and at the thresholds `choose_thresholds` picks on these queries ("tuned").
    """
    inside, outside = load_dev(eval_dir) if eval_dir is not None else ([], [])
    source = f"dev set {eval_dir}"
    if not inside:
        inside, outside = loo_queries(matcher)
        source = "leave-one-out on the KB"
        outside = [*outside, *(DevQuery(q, None) for q in BUILTIN_OUT_OF_SCOPE)]
    known = {e.id for e in matcher.entries}
    inside = [dq for dq in inside if dq.gold in known]
    gold = [dq.gold for dq in inside]
    systems: dict[str, Metrics] = {}
    r_in, r_out = run_matcher(matcher, inside), run_matcher(matcher, outside)
    t = matcher.thresholds if fixed is None else fixed.thresholds(matcher.fitted)
    systems["matcher"] = metrics(r_in, gold, r_out, (t.answer, t.delta, t.suggest), rounds=rounds)
    th = choose_thresholds(r_in, gold, r_out)
    systems["matcher (tuned)"] = metrics(r_in, gold, r_out, th, rounds=rounds)
    # Honest estimate of tuned thresholds: choose on one random half, report on the other.
    (a_in, b_in), (a_out, b_out) = _halves(len(r_in)), _halves(len(r_out))
    half_th = choose_thresholds(
        [r_in[i] for i in a_in], [gold[i] for i in a_in], [r_out[i] for i in a_out]
    )
    systems["matcher (half)"] = metrics(
        [r_in[i] for i in b_in],
        [gold[i] for i in b_in],
        [r_out[i] for i in b_out],
        half_th,
        rounds=rounds,
    )
    if with_baselines:
        for b in baselines(matcher, semantic=True):
            bl_in, bl_out = b.run(inside), b.run(outside)
            bth = choose_thresholds(bl_in, gold, bl_out, with_delta=False)
            systems[b.name] = metrics(bl_in, gold, bl_out, bth, rounds=rounds)
    return DevSetReport(source, len(inside), len(outside), systems)


def _halves(n: int, seed: int = 0) -> tuple[list[int], list[int]]:
    """A reproducible random half split of range(n)."""
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    return sorted(idx[: n // 2]), sorted(idx[n // 2 :])


# Non-legal and rare-topic messages used when no dev set is present (never tuned on).
BUILTIN_OUT_OF_SCOPE: tuple[str, ...] = (
    "今天天气怎么样", "宅基地上种什么菜好", "明天会不会下雨", "红烧肉怎么做好吃", "手机充不进电怎么办",
    "孩子发烧了吃什么药", "哪里可以买到便宜的化肥", "猪得了瘟病怎么治", "村里广场舞几点开始",
    "怎么用微信转账", "高铁票怎么买", "我想学开挖掘机去哪里学", "油菜什么时候播种", "帮我算下八字",

    "专利申请怎么写权利要求书", "外国人来华工作签证怎么办", "股票期权行权怎么交税", "海事法院管辖范围",
    "国际仲裁裁决怎么在国外执行", "公司上市要什么条件", "鱼塘的鱼浮头了怎么办",
    "老人家头晕是什么原因", "帮我写个请假条", "电视机遥控器坏了",
)  # fmt: skip


def weights_module(combiners: dict[str, Combiner], note: str) -> str:
    """Source of knowledge/matcher_weights.py for these combiners (stable under ruff format)."""
    import json

    body = json.dumps({k: c.as_dict() for k, c in combiners.items()}, indent=1, sort_keys=True)
    return (
        '"""Learned combiner weights (generated by `lawbot eval --train`; do not edit).\n\n'
        f'{note}\n"""\n\n'
        "import json\n"
        "from typing import Any\n\n"
        f'WEIGHTS: dict[str, dict[str, Any]] = json.loads(\n    """\n{body}\n"""\n)\n'
    )


def top_entries(
    matcher: Matcher,
    phrasing_scores: FloatArray,
    *,
    phrasing: int | None = None,
    hide_entry: int | None = None,
    k: int = 5,
) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The best `k` entries by their best phrasing, with one phrasing or one entry masked out."""
    ph = phrasing_scores.astype(np.float32)
    if phrasing is not None:
        ph[phrasing] = -1e9
    if hide_entry is not None:
        lo = int(matcher.starts[hide_entry])
        ph[lo : lo + len(matcher.entries[hide_entry].phrasings)] = -1e9
    pooled = pool_max(ph, matcher.starts)
    order = np.argsort(-pooled, kind="stable")[:k]
    return (
        tuple(matcher.entries[int(j)].id for j in order),
        tuple(float(pooled[j]) for j in order),
    )
