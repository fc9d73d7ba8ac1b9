"""The meaning-based triage backstop: the vote, the shipped examples, and the real encoder."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from knowledge.loader import load_kb
from knowledge.triage_semantic import (
    KB_SAMPLE,
    MESSAGES,
    PROTOTYPES_PATH,
    SemanticTriage,
)


def _unit(*rows: list[float]) -> np.ndarray:
    m = np.array(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_most_of_the_nearest_examples_must_be_urgent() -> None:
    matrix = _unit(
        [1, 0, 0], [0.95, 0.05, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.95, 0.05], [0, 0, 1]
    )
    labels = ("self_harm", "self_harm", "fire", "", "", "")
    examples = SemanticTriage(matrix.astype(np.float16), labels, k=3, threshold=0.8)
    assert examples.category(_unit([1, 0.02, 0])[0]) == "self_harm"
    assert examples.category(_unit([0, 1, 0.01])[0]) is None
    mixed = SemanticTriage(matrix.astype(np.float16), labels, k=5, threshold=0.8)
    assert mixed.category(_unit([0.7, 0.7, 0])[0]) is None, "two ordinary neighbours of five"


def test_the_shipped_examples_are_the_tune_rounds_messages_and_a_kb_sample() -> None:
    examples = SemanticTriage.load(PROTOTYPES_PATH)
    assert examples is not None
    rows = [
        json.loads(x)
        for path in MESSAGES
        for x in path.read_text("utf-8").splitlines()
        if x.strip()
    ]
    assert examples.labels[: len(rows)] == tuple(str(r.get("urgent") or "") for r in rows)
    assert len(examples.labels) == len(rows) + min(
        KB_SAMPLE, sum(len(e.phrasings) for e in load_kb().entries)
    )
    keys = {c.key for c in load_kb().triage}
    assert {x for x in examples.labels if x} <= keys
    norms = np.linalg.norm(examples.matrix.astype(np.float32), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-2)


@pytest.mark.parametrize(
    ("text", "urgent"),
    [
        ("我实在撑不住了 药我都攒了一瓶 今晚吃了就不用拖累屋里人", True),
        ("离婚的时候彩礼要不要退", False),
        ("承包的田被村里收回去了合同还没到期", False),
    ],
)
def test_the_real_encoder_flags_by_meaning(text: str, urgent: bool) -> None:
    from knowledge.semantic import Embedder

    examples = SemanticTriage.load()
    assert examples is not None
    assert (examples.category(Embedder().query(text)) is not None) is urgent


def test_the_service_escalates_what_only_the_meaning_check_catches(tmp_path: Path) -> None:
    from bot.config import load_config
    from bot.services.consultation import ConsultationService
    from bot.services.outcomes import Sender
    from bot.wiring import load_knowledge, match_settings
    from knowledge.matcher import Matcher
    from knowledge.triage import detect_risk
    from tests.conftest import ROOT, fresh_database

    text = "我崽一早出去放牛到现在都冇回 河里水好大"  # no phrase rule fires on it
    config = load_config(ROOT / "config.example.toml")
    kb = load_knowledge(config)
    assert detect_risk(text, kb.triage) is None
    settings = replace(match_settings(config, semantic=True), cache_dir=tmp_path)
    matcher = Matcher(kb, settings)
    db = fresh_database(tmp_path)
    service = ConsultationService.create(config, kb, matcher, db)
    assert service.triage_examples is not None
    villager = Sender("telegram", "7001", "7001")
    service.start(villager, "waihong")
    outcome = service.ask(villager, text)
    assert outcome.decision == "urgent"
    assert "110" in outcome.replies[0].text
    db.dispose()
