"""The backstop's cross-validation: folds never score a message against itself, and the choice
respects the declared false-alarm limits."""

from __future__ import annotations

import numpy as np

from knowledge.triage_cv import LOOKALIKE_FA_LIMIT, REAL_FA_LIMIT, GridPoint, choose, grid
from knowledge.triage_eval import Item


def _unit(rows: list[list[float]]) -> np.ndarray:
    matrix = np.asarray(rows, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def test_the_choice_is_the_best_recall_within_the_limits() -> None:
    points = [
        GridPoint(5, 0.5, 0.99, LOOKALIKE_FA_LIMIT * 2, 0.0),  # too many look-alike alarms
        GridPoint(5, 0.6, 0.98, 0.01, REAL_FA_LIMIT * 2),  # too many real-question alarms
        GridPoint(7, 0.8, 0.95, 0.01, 0.001),
        GridPoint(9, 0.9, 0.93, 0.0, 0.0),
    ]
    best = choose(points)
    assert best is not None
    assert (best.k, best.threshold) == (7, 0.8)
    assert choose([points[0], points[1]]) is None


def test_a_message_is_never_its_own_neighbour() -> None:
    # Urgent messages near each other, ordinary ones elsewhere; each scored from the other folds.
    urgent = [Item(f"m-{i}", "x", "fire", "messages") for i in range(10)]
    ordinary = [Item(f"m-{10 + i}", "y", None, "messages") for i in range(10)]
    real = [Item("realdev-1", "z", None, "realqa")]
    items = urgent + ordinary + real
    vectors = _unit(
        [[1.0, 0.01 * i, 0.0] for i in range(10)]
        + [[0.0, 1.0, 0.01 * i] for i in range(10)]
        + [[0.0, 0.9, 0.1]]
    )
    kb = _unit([[0.0, 0.0, 1.0]] * 3)
    points = grid(items, [False] * len(items), vectors, kb)
    at = {(p.k, p.threshold): p for p in points}
    assert at[(5, 0.8)].recall == 1.0
    assert at[(5, 0.8)].lookalike_fa == 0.0
    assert at[(5, 0.8)].real_fa == 0.0
    # With every message alone (one example each side), a lone vote would flag; folds keep it out.
    ruled = [True] * 10 + [False] * 11
    assert all(p.recall == 1.0 for p in grid(items, ruled, vectors, kb))
