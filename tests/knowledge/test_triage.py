"""Risk triage: the KB's own urgent examples fire, its ordinary legal questions do not."""

from __future__ import annotations

import pytest
import yaml

from knowledge.loader import default_kb_dir
from knowledge.models import KnowledgeBase
from knowledge.triage import detect_risk, simplify

EXAMPLES = yaml.safe_load((default_kb_dir() / "triage.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("example", EXAMPLES["examples_urgent"])
def test_urgent_examples_trigger(kb: KnowledgeBase, example: object) -> None:
    text = example["text"] if isinstance(example, dict) else str(example)
    assert detect_risk(text, kb.triage) is not None


@pytest.mark.parametrize("example", EXAMPLES["examples_not_urgent"])
def test_ordinary_questions_do_not_trigger(kb: KnowledgeBase, example: object) -> None:
    text = example["text"] if isinstance(example, dict) else str(example)
    assert detect_risk(text, kb.triage) is None


def test_traditional_characters_and_spaces_still_trigger(kb: KnowledgeBase) -> None:
    assert detect_risk("我 不 想 活 了", kb.triage) is not None
    assert detect_risk("孩子不見了", kb.triage) is not None


def test_excluded_phrases_do_not_fire_a_trigger(kb: KnowledgeBase) -> None:
    assert detect_risk("打官司要多少钱", kb.triage) is None
    assert simplify("ＡＢＣ，離婚！") == "abc离婚"


def test_every_category_shows_emergency_numbers(kb: KnowledgeBase) -> None:
    assert kb.triage
    assert all(category.numbers for category in kb.triage)
    assert all("110" in category.numbers for category in kb.triage)
