"""Fit the combiner and the decision thresholds on realistic labelled data; the three baselines.

Training rows are (message, candidate) pairs, labelled 1 when the candidate is a gold entry:

* KB variants, leave-one-phrasing-out (each phrasing asked with itself hidden), and each entry's
  canonical question with the whole entry hidden (a near miss: all candidates wrong);
* an entry's `not_for:` questions: that entry's row only, labelled 0;
* the realistic labelled messages (the realdev tune split; the dev set when asked to), weighted
  `w_real` each: gold entries 1, everything else 0, and not_covered / out_of_scope messages
  all 0.

Thresholds are chosen (`knowledge.scorecard.choose_bands`) on out-of-fold scores of the realistic
messages (K-fold cross-fitting), never on scores of the model that saw them; `w_real` and the L2
strength are chosen the same way. `refit` does all of it and writes `knowledge/matcher_weights.py`:

    python -m knowledge.fitting            # realdev tune split (needs the labels)
    python -m knowledge.fitting --tune dev # engineering stand-in before the labels exist
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from knowledge.evaluation import top_entries
from knowledge.matcher import (
    FEATURES,
    Combiner,
    Matcher,
    MatchSettings,
    QueryFeatures,
    Thresholds,
    guarded_scores,
)
from knowledge.models import KnowledgeBase
from knowledge.scorecard import Case, Scored, card, choose_bands, outcomes_at
from knowledge.signals import FloatArray

__all__ = [
    "FitResult",
    "Hyper",
    "Sample",
    "baseline_scores",
    "collect",
    "cross_fit",
    "cross_kb",
    "dev_cases",
    "fit_combiner",
    "kb_cases",
    "refit",
    "score",
]

log = logging.getLogger(__name__)

FOLDS: Final = 5
TOPIC_FOLDS: Final = 4
HYPER_GRID: Final[tuple[tuple[float, float], ...]] = (
    (1.0, 1.0), (3.0, 1.0), (6.0, 3.0), (12.0, 3.0), (12.0, 10.0), (25.0, 10.0),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Sample:
    """A case and its candidates' feature rows; `only` restricts training to one entry's row."""

    case: Case
    feats: QueryFeatures
    only: int | None = None


@dataclass(frozen=True, slots=True)
class Hyper:
    """Fitting knobs chosen on tune: weight of a realistic message, L2 strength."""

    w_real: float = 3.0
    l2: float = 1.0


@dataclass
class FitResult:
    """A fitted mode: combiner, thresholds, knobs, and the out-of-fold scores they came from."""

    combiner: Combiner
    thresholds: Thresholds
    hyper: Hyper
    oof_cases: list[Case] = field(default_factory=list)
    oof: list[Scored] = field(default_factory=list)
    note: str = ""


# -- cases ------------------------------------------------------------------------------------


def kb_cases(matcher: Matcher) -> list[Case]:
    """Leave-one-out cases on the KB: phrasings (hidden), canonicals (entry hidden), not_for."""
    out: list[Case] = []
    for ei, entry in enumerate(matcher.entries):
        lo = int(matcher.starts[ei])
        if len(entry.phrasings) >= 2:
            out.extend(
                Case(
                    f"kb:{entry.id}:{k}",
                    text,
                    "entry",
                    (entry.id,),
                    phrasing=lo + k,
                    topic=entry.topic_key,
                )
                for k, text in enumerate(entry.phrasings)
            )
        out.append(
            Case(
                f"kbhide:{entry.id}",
                entry.question,
                "not_covered",
                hide_entry=ei,
                topic=entry.topic_key,
            )
        )
        out.extend(
            Case(f"notfor:{entry.id}:{k}", text, "not_covered", topic=entry.topic_key)
            for k, text in enumerate(entry.not_for)
        )
    return out


def dev_cases(kb: KnowledgeBase, eval_dir: Path) -> list[Case]:
    """The dev set as cases: gold questions (entries the KB has) and out_of_scope.yaml."""
    from knowledge.evaluation import load_dev

    inside, outside = load_dev(eval_dir)
    topic = {e.id: e.topic_key for e in kb.entries}
    out = [
        Case(f"dev:{i}", dq.q, "entry", (dq.gold,), topic=topic[dq.gold])
        for i, dq in enumerate(inside)
        if dq.gold is not None and dq.gold in topic
    ]
    out.extend(Case(f"oos:{i}", dq.q, "out_of_scope") for i, dq in enumerate(outside))
    return out


def with_topics(kb: KnowledgeBase, cases: Sequence[Case]) -> list[Case]:
    """Cases with `topic` set from their first gold entry."""
    topic = {e.id: e.topic_key for e in kb.entries}
    return [replace(c, topic=topic.get(c.gold[0], "")) if c.gold else c for c in cases]


# -- features ---------------------------------------------------------------------------------


def collect(matcher: Matcher, cases: Sequence[Case]) -> list[Sample]:
    """Feature rows of every case (asked-part e5 vectors through the on-disk store)."""
    ids = {e.id: i for i, e in enumerate(matcher.entries)}
    prepared: list[tuple[Case, str | None, str, str]] = []
    for c in cases:
        normalized = matcher.phrasings[c.phrasing] if c.phrasing is not None else None
        norm = normalized if normalized is not None else matcher.normalize(c.text)
        prepared.append((c, normalized, norm, matcher.asked(c.text, norm)))
    vecs: dict[str, FloatArray] = {}
    if matcher.semantic:
        need = sorted({a for c, _, n, a in prepared if a and (c.phrasing is None or a != n)})
        if need:
            matrix = matcher.embed_texts(need)
            vecs = {t: matrix[i] for i, t in enumerate(need)}
    out: list[Sample] = []
    for c, normalized, norm, asked in prepared:
        vec = None
        if matcher._emb is not None:
            if c.phrasing is not None and asked == norm:
                vec = matcher.phrasing_vector(c.phrasing)
            else:
                vec = vecs.get(asked)
        feats = matcher.features(
            c.text,
            normalized=normalized,
            vec=vec,
            exclude_phrasing=c.phrasing,
            exclude_entry=c.hide_entry,
            asked=asked,
        )
        only = ids.get(c.id.split(":")[1]) if c.id.startswith("notfor:") else None
        out.append(Sample(c, feats, only))
    return out


def score(matcher: Matcher, samples: Sequence[Sample], combiner: Combiner) -> list[Scored]:
    """Ranked (top 5) outputs of a combiner over collected samples."""
    out: list[Scored] = []
    for s in samples:
        if not s.feats.content:
            out.append(Scored((), (), False))
            continue
        if not s.feats.entries:
            out.append(Scored((), ()))
            continue
        p = guarded_scores(combiner, s.feats.rows)
        order = np.argsort(-p, kind="stable")[:5]
        out.append(
            Scored(
                tuple(matcher.entries[s.feats.entries[int(j)]].id for j in order),
                tuple(round(float(p[j]), 4) for j in order),
            )
        )
    return out


# -- fitting ----------------------------------------------------------------------------------


def _logistic(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    w: npt.NDArray[np.float64],
    l2: float,
    iters: int = 30,
) -> tuple[npt.NDArray[np.float64], float]:
    """Weighted L2 logistic regression by Newton's method: (coef, intercept)."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    beta = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ beta, -30, 30)))
        grad = xb.T @ (w * (p - y)) + reg * beta
        hess = (xb * (w * p * (1 - p))[:, None]).T @ xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if float(np.abs(step).max()) < 1e-6:
            break
    return beta[:-1], float(beta[-1])


def _design(
    matcher: Matcher, samples: Sequence[Sample], weights: Sequence[float], cols: list[int]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    xs: list[FloatArray] = []
    ys: list[float] = []
    ws: list[float] = []
    for s, wt in zip(samples, weights, strict=True):
        if not s.feats.entries:
            continue
        rows = s.feats.rows[:, cols]
        labels = [float(matcher.entries[e].id in s.case.gold) for e in s.feats.entries]
        if s.only is not None:
            keep = [j for j, e in enumerate(s.feats.entries) if e == s.only]
            rows, labels = rows[keep], [0.0] * len(keep)
        xs.append(rows)
        ys.extend(labels)
        ws.extend([wt] * len(labels))
    if not xs:
        return np.zeros((0, len(cols))), np.zeros(0), np.zeros(0)
    return np.vstack(xs).astype(np.float64), np.asarray(ys), np.asarray(ws)


def fit_combiner(
    matcher: Matcher,
    samples: Sequence[Sample],
    weights: Sequence[float],
    names: Sequence[str],
    l2: float = 1.0,
) -> Combiner:
    """Fit the logistic combiner on weighted samples, then Platt-calibrate its top-1 logit."""
    cols = [FEATURES.index(n) for n in names]
    x, y, w = _design(matcher, samples, weights, cols)
    total = float(w.sum()) or 1.0
    mean = (w[:, None] * x).sum(0) / total if len(x) else np.zeros(len(cols))
    var = (w[:, None] * (x - mean) ** 2).sum(0) / total if len(x) else np.ones(len(cols))
    scale = np.sqrt(var)
    scale = np.where(scale < 1e-6, 1.0, scale)
    coef, intercept = _logistic((x - mean) / scale, y, w, l2) if len(x) else (mean * 0, -5.0)
    comb = Combiner(
        names=tuple(names),
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        coef=tuple(float(v) for v in coef),
        intercept=intercept,
    )
    logits: list[float] = []
    right: list[float] = []
    lw: list[float] = []
    for s, wt in zip(samples, weights, strict=True):
        if not s.feats.entries or s.only is not None:
            continue
        raw = comb.raw(s.feats.rows)
        j = int(np.argmax(raw))
        logits.append(float(raw[j]))
        right.append(float(matcher.entries[s.feats.entries[j]].id in s.case.gold))
        lw.append(wt)
    if logits and 0 < sum(right) < len(right):
        a, b = _logistic(np.asarray(logits)[:, None], np.asarray(right), np.asarray(lw), l2=1e-3)
        comb = replace(comb, platt=(float(a[0]), b))
    return comb


def feature_names(semantic: bool) -> list[str]:
    """The features a mode's combiner uses."""
    return [n for n in FEATURES if semantic or not n.startswith("e5")]


def _folds(cases: Sequence[Case], k: int, seed: int = 0) -> list[int]:
    order = np.random.default_rng(seed).permutation(len(cases))
    fold = [0] * len(cases)
    for rank, i in enumerate(order):
        fold[int(i)] = rank % k
    return fold


def cross_fit(
    matcher: Matcher,
    kb_samples: Sequence[Sample],
    real: Sequence[Sample],
    hyper: Hyper,
    names: Sequence[str],
    folds: int = FOLDS,
) -> list[Scored]:
    """Out-of-fold scores of the realistic samples (each fold fitted without it)."""
    fold = _folds([s.case for s in real], folds)
    out: list[Scored | None] = [None] * len(real)
    for f in range(folds):
        train = [*kb_samples, *(s for s, g in zip(real, fold, strict=True) if g != f)]
        weights = [1.0] * len(kb_samples) + [hyper.w_real] * (len(train) - len(kb_samples))
        comb = fit_combiner(matcher, train, weights, names, hyper.l2)
        held = [i for i, g in enumerate(fold) if g == f]
        for i, sc in zip(held, score(matcher, [real[i] for i in held], comb), strict=True):
            out[i] = sc
    return [s for s in out if s is not None]


def _objective(cases: Sequence[Case], scored: Sequence[Scored]) -> tuple[float, float, Thresholds]:
    th = choose_bands(cases, scored)
    values = card(cases, outcomes_at(scored, th), rounds=0).values
    right = values["answered_right"]
    offered = values["right_offered"]
    return (
        0.0 if math.isnan(right) else right,
        0.0 if math.isnan(offered) else offered,
        th,
    )


def fit_mode(
    matcher: Matcher,
    real_cases: Sequence[Case],
    *,
    grid: Sequence[tuple[float, float]] = HYPER_GRID,
    progress: Callable[[str], None] = log.info,
) -> FitResult:
    """Choose knobs and thresholds on out-of-fold scores, then fit on everything."""
    names = feature_names(matcher.semantic)
    kb_samples = collect(matcher, kb_cases(matcher))
    real = collect(matcher, real_cases)
    best: tuple[float, float, Hyper, Thresholds, list[Scored]] | None = None
    for w_real, l2 in grid:
        hyper = Hyper(w_real, l2)
        oof = cross_fit(matcher, kb_samples, real, hyper, names)
        right, offered, th = _objective([s.case for s in real], oof)
        progress(f"w_real={w_real} l2={l2}: answered_right={right:.3f} offered={offered:.3f}")
        if best is None or (right, offered) > (best[0], best[1]):
            best = (right, offered, hyper, th, oof)
    assert best is not None
    _, _, hyper, th, oof = best
    weights = [1.0] * len(kb_samples) + [hyper.w_real] * len(real)
    comb = fit_combiner(matcher, [*kb_samples, *real], weights, names, hyper.l2)
    return FitResult(comb, th, hyper, [s.case for s in real], oof)


# -- cross-KB ---------------------------------------------------------------------------------


def topic_folds(kb: KnowledgeBase, k: int = TOPIC_FOLDS) -> dict[str, int]:
    """Topic key → fold, round-robin over the sorted keys (stable as topics are added)."""
    return {key: i % k for i, key in enumerate(sorted(t.key for t in kb.topics))}


def cross_kb(
    matcher: Matcher,
    real: Sequence[Sample],
    queries: Sequence[Case],
    hyper: Hyper,
    *,
    k: int = TOPIC_FOLDS,
) -> tuple[list[Case], list[Scored]]:
    """Leave-topic-out: fit without some topics, score those topics' phrasings and questions.

    Each fold's combiner sees no KB variant and no realistic message of its held-out topics;
    the held-out queries are those topics' KB phrasings (each hidden from the index, the entry
    itself stays: a new entry is in the KB, only not in the fit) and `queries` (e.g. the dev
    set) whose gold is in them. Negatives in `queries` are spread over the folds.
    """
    names = feature_names(matcher.semantic)
    folds = topic_folds(matcher.kb, k)
    kb_all = collect(matcher, kb_cases(matcher))
    asked = collect(matcher, queries)
    neg_fold = {c.id: i % k for i, c in enumerate(c for c in queries if c.negative)}
    cases: list[Case] = []
    scored: list[Scored] = []
    for f in range(k):
        held = {t for t, g in folds.items() if g == f}
        train = [s for s in kb_all if s.case.topic not in held]
        train_real = [s for s in real if s.case.negative or s.case.topic not in held]
        weights = [1.0] * len(train) + [hyper.w_real] * len(train_real)
        comb = fit_combiner(matcher, [*train, *train_real], weights, names, hyper.l2)
        test = [s for s in kb_all if s.case.topic in held and s.case.label == "entry"]
        test += [
            s
            for s in asked
            if (s.case.label == "entry" and s.case.topic in held)
            or (s.case.negative and neg_fold.get(s.case.id) == f)
        ]
        cases.extend(s.case for s in test)
        scored.extend(score(matcher, test, comb))
    return cases, scored


# -- baselines --------------------------------------------------------------------------------


def baseline_scores(
    matcher: Matcher, cases: Sequence[Case], *, semantic: bool = True
) -> dict[str, list[Scored]]:
    """B1 rapidfuzz WRatio, B2 bm25s over jieba words, B3 e5 cosine: raw phrasings, entry max."""
    import bm25s
    from rapidfuzz import fuzz, process, utils

    raw = [p for e in matcher.entries for p in e.phrasings]
    if not raw or not cases:
        return {}
    texts = [c.text for c in cases]
    tok = matcher._tok
    b1 = process.cdist(texts, raw, scorer=fuzz.WRatio, processor=utils.default_process, workers=1)
    retriever = bm25s.BM25()
    retriever.index([tok.words(p) or ["∅"] for p in raw], show_progress=False)

    def b2(q: str) -> FloatArray:
        words = [w for w in tok.words(q) if w.strip()]
        if not words:
            return np.zeros(len(raw), np.float32)
        return np.asarray(retriever.get_scores(words), dtype=np.float32)

    systems: dict[str, Callable[[int], FloatArray]] = {
        "B1 rapidfuzz": lambda i: np.asarray(b1[i], np.float32) / 100.0,
        "B2 bm25s": lambda i: b2(texts[i]),
    }
    if semantic:
        from knowledge.semantic import Embedder, VectorStore, embed_phrasings

        emb = Embedder()
        matrix = embed_phrasings(emb, raw, matcher.cache_dir, "raw-" + matcher.kb.fingerprint)
        position = {t: i for i, t in enumerate(raw)}
        fresh = sorted({t for c, t in zip(cases, texts, strict=True) if c.phrasing is None})
        store = VectorStore(matcher.cache_dir)
        qv = store.embed(emb, fresh) if fresh else np.zeros((0, emb.dim), np.float32)
        qvec = {t: qv[i] for i, t in enumerate(fresh)}

        def b3(i: int) -> FloatArray:
            c = cases[i]
            v = matrix.matrix[position[c.text]] if c.phrasing is not None else qvec[texts[i]]
            return np.asarray(matrix.matrix @ v, dtype=np.float32)

        systems["B3 e5 cosine"] = b3
    out: dict[str, list[Scored]] = {}
    for name, fn in systems.items():
        rows: list[Scored] = []
        for i, c in enumerate(cases):
            ids, scores = top_entries(matcher, fn(i), phrasing=c.phrasing, hide_entry=c.hide_entry)
            rows.append(Scored(ids, scores))
        out[name] = rows
    return out


# -- refit ------------------------------------------------------------------------------------


def weights_source(fits: dict[str, FitResult], note: str) -> str:
    """Source of knowledge/matcher_weights.py (stable under ruff format)."""
    data = {
        mode: {
            **fit.combiner.as_dict(),
            "thresholds": fit.thresholds.as_dict(),
            "hyper": {"w_real": fit.hyper.w_real, "l2": fit.hyper.l2},
        }
        for mode, fit in fits.items()
    }
    body = json.dumps(data, indent=1, sort_keys=True)
    return (
        '"""Learned combiner weights and thresholds (generated by `python -m knowledge.fitting`;'
        " do not edit).\n\n"
        f'{note}\n"""\n\n'
        "import json\n"
        "from typing import Any\n\n"
        f'WEIGHTS: dict[str, dict[str, Any]] = json.loads(\n    """\n{body}\n"""\n)\n'
    )


def realistic_cases(kb: KnowledgeBase, tune: str, eval_dir: Path) -> list[Case]:
    """The realistic labelled messages to fit on.

    `realdev`: the tune half of the labelled real questions (formal, long, many not covered);
    `dev`: the villager-style dev set (colloquial, written with the KB: a tuning set, never a
    test); `realdev+dev` (the default): both, so the weights and thresholds serve the town's mix
    of colloquial messages and real consultation questions.
    """
    cases: list[Case] = []
    if tune in ("dev", "realdev+dev"):
        cases += dev_cases(kb, eval_dir)
    if tune in ("realdev", "realdev+dev"):
        from knowledge.realqa import real_set

        known = [e.id for e in kb.entries]
        real = [Case(m.id, m.text, m.label, m.gold) for m in real_set("tune", known)]
        cases += with_topics(kb, real)
    if not cases:
        raise ValueError(f"unknown tune set {tune!r}")
    return cases


def refit(
    kb: KnowledgeBase,
    *,
    tune: str = "realdev+dev",
    modes: Sequence[str] = ("lexical", "semantic"),
    cache_dir: Path | None = None,
    out: Path | None = None,
    progress: Callable[[str], None] = log.info,
) -> dict[str, FitResult]:
    """Fit every mode on the KB + realistic tune data; write the weights module when `out`."""
    eval_dir = Path(__file__).resolve().parent / "eval"
    real = realistic_cases(kb, tune, eval_dir)
    fits: dict[str, FitResult] = {}
    for mode in modes:
        settings = MatchSettings(semantic=mode == "semantic", cache_dir=cache_dir)
        matcher = Matcher(kb, settings)
        progress(f"fitting {mode} on {len(real)} {tune} messages + KB {kb.fingerprint}")
        fits[mode] = fit_mode(matcher, real, progress=progress)
        th = fits[mode].thresholds
        progress(f"{mode}: {th}")
    if out is not None:
        note = (
            f"Fitted on KB {kb.fingerprint} (leave-one-phrasing-out) and the {tune} tune set "
            f"({len(real)} labelled messages); thresholds chosen on out-of-fold scores."
        )
        out.write_text(weights_source(fits, note), encoding="utf-8")
    return fits


def main(argv: list[str] | None = None) -> int:
    """Refit from the command line and write knowledge/matcher_weights.py."""
    from knowledge.loader import default_kb_dir, load_kb

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kb", type=Path, default=None)
    parser.add_argument("--tune", choices=("realdev", "dev", "realdev+dev"), default="realdev+dev")
    parser.add_argument("--modes", default="lexical,semantic")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "matcher_weights.py"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    kb = load_kb(args.kb or default_kb_dir())
    refit(
        kb,
        tune=args.tune,
        modes=[m for m in args.modes.split(",") if m],
        cache_dir=args.cache_dir,
        out=args.out,
        progress=print,
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
