"""The scorecard's measures by hand, the band chooser's limits, and the real-question files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from knowledge.evalsets import EvalReport, ask_json_outcomes
from knowledge.matcher import Thresholds
from knowledge.realqa import (
    RealQaMissing,
    default_labels_path,
    default_questions_path,
    load_labels,
    load_split,
    real_set,
)
from knowledge.scorecard import (
    CONFIDENT_WRONG_LIMIT,
    NEG_ANSWERED_LIMIT,
    Case,
    Outcome,
    Scored,
    card,
    choose_bands,
    outcomes_at,
)


def require(path: Path, what: str) -> None:
    """Skip (locally) or fail (CI=true) when a data file the test needs is absent."""
    if path.is_file():
        return
    reason = f"{what} not found at {path}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must have it)")
    pytest.skip(reason)


def test_card_by_hand() -> None:
    cases = [
        Case("1", "a", "entry", ("x",)),
        Case("2", "b", "entry", ("x", "y")),
        Case("3", "c", "entry", ("x",)),
        Case("4", "d" * 70, "entry", ("x",)),
        Case("5", "e", "out_of_scope"),
        Case("6", "f", "not_covered"),
    ]
    outs = [
        Outcome("answer", ("x",), "x"),  # right
        Outcome("confirm", ("y", "x", "z"), "y"),  # right (second gold), confirmed
        Outcome("answer", ("z",), "z"),  # confidently wrong
        Outcome("suggest", ("z", "x"), "z"),  # offered, long
        Outcome("confirm", ("x", "y", "z"), "x"),  # negative answered with a check
        Outcome("escalate", (), "x"),
    ]
    c = card(cases, outs, rounds=50)
    v = c.values
    assert v["answered_right"] == pytest.approx(2 / 4)
    assert v["right_offered"] == pytest.approx(3 / 4)
    assert v["confidently_wrong"] == pytest.approx(1 / 6)
    assert v["wrong_shown"] == pytest.approx(2 / 6)
    assert v["neg_answered"] == pytest.approx(1 / 2)
    assert v["oos_answered"] == 1.0
    assert v["nc_answered"] == 0.0
    assert v["precision_answer"] == pytest.approx(1 / 2)
    assert v["precision_confirm"] == pytest.approx(1 / 2)
    assert v["precision_suggest"] == 1.0
    assert v["top1"] == pytest.approx(2 / 4)
    assert v["long_right_offered"] == 1.0
    assert c.counts == {"messages": 6, "gold": 4, "out_of_scope": 1, "not_covered": 1, "long": 1}
    lo, hi = c.intervals["answered_right"]
    assert 0.0 <= lo <= v["answered_right"] <= hi <= 1.0


def test_outcomes_at_bands() -> None:
    th = Thresholds(answer=0.8, delta=0.1, confirm=0.5, suggest=0.2)
    scored = [
        Scored(("a", "b", "c", "d"), (0.9, 0.1, 0.0, 0.0)),
        Scored(("a", "b", "c"), (0.9, 0.85, 0.1)),  # no lead: confirm
        Scored(("a", "b", "c"), (0.6, 0.1, 0.0)),
        Scored(("a", "b"), (0.3, 0.1)),
        Scored(("a",), (0.1,)),
        Scored((), (), content=False),
    ]
    got = [(o.decision, o.shown) for o in outcomes_at(scored, th)]
    assert got == [
        ("answer", ("a",)),
        ("confirm", ("a", "b", "c")),
        ("confirm", ("a", "b", "c")),
        ("suggest", ("a", "b")),
        ("escalate", ()),
        ("clarify", ()),
    ]


def test_choose_bands_keeps_the_limits() -> None:
    cases: list[Case] = []
    scored: list[Scored] = []
    for i in range(200):  # right answers spread over scores
        s = 0.3 + 0.7 * i / 200
        cases.append(Case(f"r{i}", "q", "entry", ("a",)))
        scored.append(Scored(("a", "b"), (s, s / 3)))
    for i in range(20):  # confident wrong answers, all at 0.7
        cases.append(Case(f"w{i}", "q", "entry", ("a",)))
        scored.append(Scored(("b", "a"), (0.7, 0.1)))
    for i in range(100):  # negatives, scores up to 0.6
        cases.append(Case(f"n{i}", "q", "out_of_scope"))
        scored.append(Scored(("c",), (0.6 * i / 100,)))
    th = choose_bands(cases, scored)
    v = card(cases, outcomes_at(scored, th), rounds=0).values
    assert v["confidently_wrong"] <= CONFIDENT_WRONG_LIMIT + 1e-6
    assert v["neg_answered"] <= NEG_ANSWERED_LIMIT + 1e-6
    assert th.suggest <= th.confirm <= th.answer
    assert th.answer > 0.7  # the 20 wrong ones at 0.7 must stay out of the answer band
    assert v["answered_right"] > 0.5


def test_ask_json_outcomes_reads_every_decision() -> None:
    lines = [
        json.dumps({"decision": "answer", "faq_id": "a", "suggestions": []}),
        json.dumps({"decision": "confirm", "faq_id": "a", "suggestions": [{"faq_id": "b"}]}),
        json.dumps({"decision": "suggest", "faq_id": None, "suggestions": [{"faq_id": "c"}]}),
        json.dumps({"decision": "escalate", "faq_id": None, "suggestions": []}),
        json.dumps({"decision": "clarify", "faq_id": None, "suggestions": []}),
    ]
    got = ask_json_outcomes(lines)
    assert [o.decision for o in got] == ["answer", "confirm", "suggest", "escalate", "clarify"]
    assert got[1].shown == ("a", "b")
    assert got[2].top == "c"


def test_report_table_and_json() -> None:
    cases = [Case("1", "a", "entry", ("x",)), Case("2", "b", "out_of_scope")]
    outs = [Outcome("answer", ("x",), "x"), Outcome("escalate", (), None)]
    report = EvalReport("t", {"matcher": card(cases, outs, rounds=20)})
    table = report.table()
    assert "answered_right" in table
    assert "confidently_wrong" in table
    doc = report.as_json()
    assert json.loads(json.dumps(doc))["systems"]["matcher"]["values"]["answered_right"] == 1.0


# -- the real-question files --------------------------------------------------------------------


def test_split_is_fixed_and_disjoint() -> None:
    split = load_split()
    assert len(split["tune"]) == len(split["test"]) == 500
    assert not set(split["tune"]) & set(split["test"])


def test_label_file_format(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text(
        '{"id": "realdev-0001", "label": "entry", "entries": ["a", "b"]}\n'
        '{"id": "realdev-0005", "label": "out_of_scope"}\n',
        encoding="utf-8",
    )
    assert load_labels(path) == {
        "realdev-0001": ("entry", ("a", "b")),
        "realdev-0005": ("out_of_scope", ()),
    }
    path.write_text('{"id": "x", "label": "entry", "entries": []}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="needs entries"):
        load_labels(path)
    with pytest.raises(RealQaMissing):
        load_labels(tmp_path / "missing.jsonl")


def test_real_set_joins_split_labels_and_texts(tmp_path: Path) -> None:
    (tmp_path / "q.jsonl").write_text(
        '{"id": "a1", "question": "问题一"}\n{"id": "a2", "question": "问题二"}\n',
        encoding="utf-8",
    )
    (tmp_path / "split.json").write_text('{"tune": ["a1", "a2"], "test": []}', encoding="utf-8")
    (tmp_path / "labels.jsonl").write_text(
        '{"id": "a1", "label": "entry", "entries": ["gone", "kept"]}\n'
        '{"id": "a2", "label": "entry", "entries": ["gone"]}\n',
        encoding="utf-8",
    )
    got = real_set(
        "tune",
        ["kept"],
        questions=tmp_path / "q.jsonl",
        split=tmp_path / "split.json",
        labels=tmp_path / "labels.jsonl",
    )
    assert [(m.id, m.label, m.gold) for m in got] == [
        ("a1", "entry", ("kept",)),
        ("a2", "not_covered", ()),  # its only gold entry left the KB
    ]


def test_real_labels_belong_to_the_split_and_name_real_entries() -> None:
    require(default_questions_path(), "real questions (../shared/realqa_dev)")
    require(default_labels_path(), "reconciled labels")
    from knowledge.loader import load_kb

    labels = load_labels()
    split = load_split()
    assert set(labels) <= set(split["tune"]) | set(split["test"])
    known = {e.id for e in load_kb().entries}
    gold = [e for label, entries in labels.values() if label == "entry" for e in entries]
    missing = sorted(set(gold) - known)
    assert len(missing) <= 0.02 * max(len(gold), 1), missing[:10]
    for part in ("tune", "test"):
        labelled = real_set(part, known)
        assert len(labelled) >= 100
        assert {m.label for m in labelled} == {"entry", "not_covered", "out_of_scope"}
