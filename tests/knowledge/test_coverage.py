"""`lawbot kb coverage`: per-topic share of in-scope labelled questions the KB answers."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from knowledge.coverage import coverage
from knowledge.loader import load_kb


def test_coverage_counts_per_topic_and_lists_uncovered_kinds() -> None:
    kb = load_kb()
    land = next(e for e in kb.entries if e.topic_key == "land")
    labels = [
        {"id": "a", "label": "entry", "entries": [land.id]},
        {"id": "b", "label": "not_covered", "topic": "land"},
        {"id": "c", "label": "not_covered", "topic": "hukou"},
        {"id": "d", "label": "out_of_scope"},
        {"id": "e", "label": "entry", "entries": ["no-such-entry"]},
    ]
    report = coverage(kb, labels)
    rows = {t.key: t for t in report.topics}
    assert (rows["land"].in_scope, rows["land"].covered) == (2, 1)
    assert rows["land"].share == 0.5
    assert (report.in_scope, report.covered, report.out_of_scope) == (3, 1, 1)
    assert dict(report.uncovered) == {"land": 1, "hukou": 1}
    assert report.unknown_entries == ("no-such-entry",)


def test_the_coverage_command_reads_a_set(tmp_path: Path) -> None:
    from bot.cli.main import app

    kb = load_kb()
    path = tmp_path / "labels.jsonl"
    rows = [{"id": "x", "label": "entry", "entries": [kb.entries[0].id]},
            {"id": "y", "label": "not_covered", "topic": "medical"}]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = CliRunner().invoke(app, ["kb", "coverage", "--set", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["in_scope"], data["covered"], data["share"]) == (2, 1, 0.5)


def test_every_topic_has_guidance_with_known_fields() -> None:
    kb = load_kb()
    assert all(t.guidance for t in kb.topics)
    assert all(len(t.guidance) <= 160 for t in kb.topics)
