"""Evaluation helpers: dev-set loading, logistic fit, metrics, thresholds, leave-one-out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.evaluation import (
    DevQuery,
    Ranked,
    choose_thresholds,
    evaluate,
    fit_logistic,
    load_dev,
    loo_queries,
    metrics,
    train_combiner,
)
from knowledge.matcher import Matcher, MatchSettings
from tests.knowledge.test_matcher import small_kb

LEXICAL = MatchSettings(tau_high=0.6, tau_low=0.25, delta=0.15, semantic=False)


@pytest.fixture(name="small", scope="module")
def small_fixture() -> Matcher:
    return Matcher(small_kb(), LEXICAL)


def test_load_dev(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "a.yaml").write_text(
        "- {q: 宅基地被占了, gold: homestead-encroach}\n- {q: 没有gold}\n", encoding="utf-8"
    )
    (tmp_path / "out_of_scope.yaml").write_text("- {q: 今天天气怎么样}\n", encoding="utf-8")
    inside, outside = load_dev(tmp_path)
    assert inside == [DevQuery("宅基地被占了", "homestead-encroach")]
    assert outside == [DevQuery("今天天气怎么样", None)]
    assert load_dev(tmp_path / "missing") == ([], [])


def test_fit_logistic_separates() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float64)
    coef, _ = fit_logistic(x, y, l2=0.1)
    assert coef[0] > 1.0
    assert abs(coef[1]) < abs(coef[0]) / 3


def test_metrics_by_hand() -> None:
    inside = [
        Ranked(("a", "b"), (0.9, 0.1)),  # answered right
        Ranked(("b", "a"), (0.9, 0.1)),  # answered wrong
        Ranked(("c", "a"), (0.4, 0.3)),  # suggested, gold second
        Ranked(("c", "d"), (0.1, 0.05)),  # escalated
    ]
    gold = ["a", "a", "a", "a"]
    outside = [Ranked(("a",), (0.95,)), Ranked(("b",), (0.2,))]
    m = metrics(inside, gold, outside, (0.5, 0.1, 0.25), rounds=50)
    assert m.values["top1"] == 0.25
    assert m.values["mrr5"] == pytest.approx((1 + 0.5 + 0.5 + 0) / 4)
    assert m.values["coverage"] == 0.5
    assert m.values["precision"] == 0.5
    assert m.values["right_or_suggested"] == 0.5
    assert m.values["oos_false_answer"] == 0.5
    lo, hi = m.intervals["top1"]
    assert 0.0 <= lo <= m.values["top1"] <= hi <= 1.0


def test_choose_thresholds_respects_limits() -> None:
    inside = [Ranked(("a", "b"), (s, 0.0)) for s in np.linspace(0.5, 1.0, 50)]
    inside += [Ranked(("b", "a"), (0.7, 0.0))]  # one confident wrong answer at 0.7
    gold = ["a"] * len(inside)
    outside = [Ranked(("x",), (0.6,))] * 10
    tau_high, delta, tau_low = choose_thresholds(inside, gold, outside)
    assert tau_high > 0.6  # every out-of-scope query scores 0.6: none may be answered
    answered = [r for r in inside if r.scores[0] >= tau_high]
    right = sum(r.ids[0] == "a" for r in answered)
    assert right / len(answered) >= 0.97
    assert delta >= 0.0
    assert tau_low <= tau_high


def test_loo_queries_hide_what_they_ask(small: Matcher) -> None:
    inside, outside = loo_queries(small)
    assert len(inside) == sum(len(e.phrasings) for e in small.entries)
    assert len(outside) == len(small.entries)
    for dq in inside[:5]:
        feats = small.features(dq.q, exclude_phrasing=dq.phrasing)
        assert feats.entries
    hidden = outside[0]
    assert hidden.hide_entry is not None
    feats = small.features(hidden.q, exclude_entry=hidden.hide_entry)
    assert hidden.hide_entry not in feats.entries


def test_train_and_evaluate_small_kb(small: Matcher, tmp_path: Path) -> None:
    combiner = train_combiner(small)
    assert len(combiner.coef) == len(combiner.names)
    trained = Matcher(small_kb(), LEXICAL, combiner)
    report = evaluate(trained, tmp_path / "no-dev-set", rounds=20)
    assert report.source.startswith("leave-one-out")
    assert {"matcher", "matcher (tuned)", "B1 WRatio", "B2 bm25s"} <= set(report.systems)
    for m in report.systems.values():
        assert 0.0 <= m.values["top1"] <= 1.0
