"""The triage evaluator (`python -m knowledge.triage_eval`) on a tiny made-up set, and the split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.models import KnowledgeBase
from knowledge.triage_eval import (
    TRIAGE_DIR,
    Item,
    evaluate,
    format_report,
    load_items,
    main,
    make_split,
    rate,
)

MESSAGES = [
    {"text": "我家着火了 快来人", "urgent": "fire", "writer": "t"},
    {"text": "老公又在打我", "urgent": "domestic_violence", "writer": "t"},
    {"text": "有人拿刀在追我", "urgent": "domestic_violence", "writer": "t"},  # wrong category
    {"text": "今天天气真好", "urgent": "self_harm", "writer": "t"},  # a miss
    {"text": "砍树要办证吗", "urgent": None, "writer": "t"},
    {"text": "杀猪要交税吗", "urgent": None, "writer": "t"},
]
QUESTIONS = [
    {"id": "q-1", "question": "离婚后孩子归谁"},
    {"id": "q-2", "question": "有人在撬我家的门"},  # a false alarm: labelled null below
    {"id": "q-3", "question": "想问问彩礼要退吗"},
]


def _write_set(root: Path) -> Path:
    data = root / "triage"
    data.mkdir()
    (data / "messages.jsonl").write_text(
        "\n".join(json.dumps(m, ensure_ascii=False) for m in MESSAGES) + "\n", encoding="utf-8"
    )
    (data / "realqa.jsonl").write_text(
        "\n".join(json.dumps({"id": q["id"], "urgent": None}) for q in QUESTIONS) + "\n",
        encoding="utf-8",
    )
    everything = [f"m-{n}" for n in range(1, len(MESSAGES) + 1)] + [q["id"] for q in QUESTIONS]
    (data / "split.json").write_text(
        json.dumps({"tune": everything, "test": []}), encoding="utf-8"
    )
    questions = root / "questions.jsonl"
    questions.write_text(
        "\n".join(json.dumps(q, ensure_ascii=False) for q in QUESTIONS) + "\n", encoding="utf-8"
    )
    return data


def test_evaluator_counts_recall_false_alarms_and_confusion(
    tmp_path: Path, kb: KnowledgeBase
) -> None:
    data = _write_set(tmp_path)
    items, warnings = load_items("tune", data, tmp_path / "questions.jsonl")
    assert not warnings
    assert len(items) == 9
    report = evaluate(items, kb.triage, part="tune", rounds=200)
    assert (report.urgent_recall.k, report.urgent_recall.n) == (3, 4)
    assert (report.recall["domestic_violence"].k, report.recall["domestic_violence"].n) == (2, 2)
    assert (report.recall["self_harm"].k, report.recall["self_harm"].n) == (0, 1)
    assert (report.false_alarm["messages"].k, report.false_alarm["messages"].n) == (0, 2)
    assert (report.false_alarm["realqa"].k, report.false_alarm["realqa"].n) == (1, 3)
    assert report.confusion["domestic_violence"]["violence"] == 1
    assert (report.right_category.k, report.right_category.n) == (2, 3)
    assert ("m-4", "self_harm", "none") in report.misses
    assert ("m-3", "domestic_violence", "violence") in report.misses
    assert report.false_alarms == [("q-2", "none", "ongoing_crime")]
    text = format_report(report)
    assert "ALL urgent" in text
    assert "writer's null set" in text
    assert "real questions" in text
    assert "有人在撬我家的门" not in text  # texts only with show_texts
    assert "有人在撬我家的门" in format_report(report, show_texts=True)


def test_bootstrap_interval_brackets_the_rate() -> None:
    r = rate([True] * 90 + [False] * 10, rounds=500)
    assert r.k == 90
    assert r.n == 100
    assert r.low <= 0.9 <= r.high
    assert 0.8 < r.wilson_low < 0.9 < r.wilson_high < 0.97
    assert rate([], rounds=10).n == 0


def test_command_line_prints_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_set(tmp_path)
    args = ["--set", "tune", "--data", str(data), "--questions", str(tmp_path / "questions.jsonl")]
    assert main([*args, "--rounds", "100"]) == 0
    out = capsys.readouterr().out
    assert "recall per category" in out
    assert "false alarms" in out
    assert "confusion" in out
    assert main([*args, "--rounds", "50", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["urgent_recall"]["k"] == 3
    assert figures["false_alarm"]["realqa"]["n"] == 3


def test_misses_with_texts_are_refused_on_the_test_set(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--set", "test", "--misses"]) == 2
    assert "tune set only" in capsys.readouterr().err


def test_missing_real_questions_only_warn(tmp_path: Path, kb: KnowledgeBase) -> None:
    data = _write_set(tmp_path)
    items, warnings = load_items("tune", data, tmp_path / "nowhere.jsonl")
    assert warnings
    assert {i.source for i in items} == {"messages"}
    assert evaluate(items, kb.triage, rounds=10).false_alarm.keys() == {"messages"}


def _read(name: str) -> list[dict[str, object]]:
    path = TRIAGE_DIR / name
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def test_the_shipped_split_tunes_on_rounds_one_and_two_and_tests_on_round_three() -> None:
    stored = json.loads((TRIAGE_DIR / "split.json").read_text(encoding="utf-8"))
    assert make_split() == stored
    tune, test = set(stored["tune"]), set(stored["test"])
    assert not tune & test
    round1 = {f"m-{n}" for n, _ in enumerate(_read("messages.jsonl"), 1)}
    round1 |= {str(item["id"]) for item in _read("realqa.jsonl")}
    round2 = {f"n-{n}" for n, _ in enumerate(_read("messages2.jsonl"), 1)}
    round2 |= {str(item["id"]) for item in _read("realqa2.jsonl")}
    round3 = {f"p-{n}" for n, _ in enumerate(_read("messages3.jsonl"), 1)}
    round3 |= {str(item["id"]) for item in _read("realqa3.jsonl")}
    assert tune == round1 | round2
    assert test == round3
    assert set(stored["round2_test"]) == round2
    real = [{i for i in r if i.startswith("realdev-")} for r in (round1, round2, round3)]
    assert not real[0] & real[1], "a real question twice"
    assert not real[0] & real[2], "a real question twice"
    assert not real[1] & real[2], "a real question twice"
    retired = set(stored["round1_test"])
    assert retired < round1
    assert abs(len(retired) - len(round1) / 2) <= 8  # round 1's stratified half, kept on record


def test_items_carry_their_source() -> None:
    item = Item("m-1", "text", None, "messages")
    assert item.source == "messages"
    assert item.gold is None
