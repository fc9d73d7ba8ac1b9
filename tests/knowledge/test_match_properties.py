"""Property: any text goes through normalise → match without raising, to one of five decisions."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowledge.matcher import Matcher, MatchSettings
from knowledge.models import KnowledgeBase
from knowledge.normalize import normalize

DECISIONS = {"answer", "confirm", "suggest", "escalate", "clarify"}

chinese = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=40)
mixed = st.text(
    alphabet=st.sampled_from(
        list("宅基地离婚工伤赔偿多少钱去哪办怎么办你好吗呢啊 ，。！？abc123😀\x00\t")
    ),
    max_size=60,
)
anything = st.one_of(st.text(max_size=200), chinese, mixed)


@pytest.fixture(name="lexical", scope="module")
def lexical_fixture(kb: KnowledgeBase) -> Matcher:
    return Matcher(kb, MatchSettings(tau_high=0.6, tau_low=0.25, delta=0.15, semantic=False))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=anything)
def test_any_text_gives_one_of_four_decisions(lexical: Matcher, text: str) -> None:
    norm = normalize(text)
    assert isinstance(norm, str)
    for message in (text, norm):
        result = lexical.match(message)
        assert result.decision in DECISIONS
        assert 0.0 <= result.score <= 1.0
        assert len({c.entry.id for c in result.candidates}) == len(result.candidates)
        assert (result.entry is not None) == (result.decision in ("answer", "confirm"))


@settings(max_examples=100, deadline=None)
@given(text=anything)
def test_normalize_is_idempotent_enough(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == normalize(normalize(once))
    assert "\x00" not in once
