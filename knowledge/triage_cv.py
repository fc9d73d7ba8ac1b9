"""Choose the meaning backstop's `K` and `THRESHOLD` by cross-validation on the triage tune set:
`python -m knowledge.triage_cv`.

The writer's messages of the tune rounds are split into folds (one seeded shuffle); each fold is
scored with the other folds' messages (plus the fixed KB sample) as examples, the way the shipped
backstop scores a message it has never seen. Real questions are never examples, so each is scored
against every message. Only messages no rule flags are asked, as in the product. For every `K` and
threshold the combined (rules, then backstop) urgent recall and the false alarms on the writer's
look-alikes and on real questions are printed; the choice is the highest recall whose false alarms
stay within the declared limits (`REAL_FA_LIMIT`, `LOOKALIKE_FA_LIMIT`). Test items are never
read.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from knowledge.triage import detect_risk
from knowledge.triage_eval import Item, load_items

__all__ = ["LOOKALIKE_FA_LIMIT", "REAL_FA_LIMIT", "GridPoint", "choose", "grid"]

FOLDS: Final = 5
FOLD_SEED: Final = 20261204
KS: Final = (5, 7, 9, 11, 15)
THRESHOLDS: Final = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
# Declared before the grid was first printed: real questions stand for ordinary traffic (target
# ≤ 1% false alarms in all); the writer's look-alikes are hard on purpose.
REAL_FA_LIMIT: Final = 0.008
LOOKALIKE_FA_LIMIT: Final = 0.05

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class GridPoint:
    """Combined figures for one `K` and threshold."""

    k: int
    threshold: float
    recall: float
    lookalike_fa: float
    real_fa: float


def _votes(sims: FloatArray, labels: Sequence[str], k: int) -> tuple[float, str | None]:
    top = np.argpartition(-sims, k)[:k]
    weights = np.maximum(sims[top], 0.0)
    total = float(weights.sum())
    votes: dict[str, float] = {}
    for index, weight in zip(top, weights, strict=True):
        label = labels[int(index)]
        if label:
            votes[label] = votes.get(label, 0.0) + float(weight)
    if total <= 0 or not votes:
        return 0.0, None
    return sum(votes.values()) / total, max(votes, key=lambda key: votes[key])


def grid(
    items: Sequence[Item],
    ruled: Sequence[bool],
    vectors: FloatArray,
    kb_vectors: FloatArray,
) -> list[GridPoint]:
    """The combined figures over `KS` × `THRESHOLDS` (vectors: one unit row per item)."""
    messages = [i for i, item in enumerate(items) if item.source == "messages"]
    order = messages[:]
    random.Random(FOLD_SEED).shuffle(order)
    fold = {index: n % FOLDS for n, index in enumerate(order)}
    labels = [item.gold or "" for item in items]
    scores: dict[int, list[tuple[float, str | None]]] = {k: [] for k in KS}
    for i, item in enumerate(items):
        if ruled[i]:
            for k in KS:
                scores[k].append((1.0, "rule"))
            continue
        examples = [j for j in messages if item.source != "messages" or fold[j] != fold[i]]
        matrix = np.vstack([vectors[examples], kb_vectors])
        example_labels = [labels[j] for j in examples] + [""] * len(kb_vectors)
        sims = matrix @ vectors[i]
        for k in KS:
            scores[k].append(_votes(sims, example_labels, k))
    points = []
    urgent = [i for i, item in enumerate(items) if item.gold]
    looks = [i for i, item in enumerate(items) if not item.gold and item.source == "messages"]
    real = [i for i, item in enumerate(items) if not item.gold and item.source == "realqa"]
    for k in KS:
        for threshold in THRESHOLDS:
            flagged = [ruled[i] or scores[k][i][0] >= threshold for i in range(len(items))]
            points.append(
                GridPoint(
                    k,
                    threshold,
                    sum(flagged[i] for i in urgent) / max(len(urgent), 1),
                    sum(flagged[i] for i in looks) / max(len(looks), 1),
                    sum(flagged[i] for i in real) / max(len(real), 1),
                )
            )
    return points


def choose(points: Sequence[GridPoint]) -> GridPoint | None:
    """The highest recall within the false-alarm limits (ties: fewer false alarms)."""
    allowed = [
        p for p in points if p.real_fa <= REAL_FA_LIMIT and p.lookalike_fa <= LOOKALIKE_FA_LIMIT
    ]
    if not allowed:
        return None
    return max(allowed, key=lambda p: (p.recall, -p.real_fa, -p.lookalike_fa, p.threshold))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the grid and the choice."""
    parser = argparse.ArgumentParser(prog="python -m knowledge.triage_cv", description=__doc__)
    parser.parse_args(argv)
    from knowledge.loader import default_kb_dir, load_kb
    from knowledge.semantic import Embedder
    from knowledge.triage_semantic import kb_sample

    kb = load_kb(default_kb_dir())
    items, warnings = load_items("tune")
    for warning in warnings:
        print(f"warning: {warning}")
    ruled = [detect_risk(item.text, kb.triage) is not None for item in items]
    embedder = Embedder()

    def unit(texts: list[str]) -> FloatArray:
        matrix = np.asarray(embedder.queries(texts), dtype=np.float32)
        unit: FloatArray = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-9)
        return unit

    vectors = unit([item.text for item in items])
    kb_vectors = unit(kb_sample(kb))
    points = grid(items, ruled, vectors, kb_vectors)
    print(f"tune items {len(items)}; rules alone flag {sum(ruled)}")
    print(f"{'K':>3} {'thr':>5} {'recall':>8} {'look-alike FA':>14} {'real FA':>8}")
    for p in points:
        print(f"{p.k:>3} {p.threshold:>5.2f} {p.recall:>8.2%} {p.lookalike_fa:>14.2%} "
              f"{p.real_fa:>8.2%}")  # fmt: skip
    best = choose(points)
    print("choice:", "none within the limits" if best is None else f"K={best.k} "
          f"threshold={best.threshold}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
