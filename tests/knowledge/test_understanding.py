"""Confirm band, `not_for:` guard, stories, the e5 store, fitting and `ask --json` (real matcher)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from knowledge.check import check_kb
from knowledge.fitting import Hyper, collect, cross_fit, feature_names, fit_combiner, kb_cases
from knowledge.loader import read_kb
from knowledge.matcher import (
    NO_CONFIRM,
    Matcher,
    MatchSettings,
    Thresholds,
    result_json,
)
from knowledge.models import KnowledgeBase, Topic
from knowledge.scorecard import Case
from tests.knowledge.test_matcher import LEXICAL, make_entry, small_kb

FITTED = Thresholds(answer=0.9, delta=0.1, confirm=0.3, suggest=0.1)


@pytest.fixture(name="small", scope="module")
def small_fixture() -> Matcher:
    return Matcher(small_kb(), LEXICAL)


def test_explicit_three_band_settings_turn_the_confirm_band_off() -> None:
    assert LEXICAL.thresholds(FITTED).confirm == NO_CONFIRM
    assert MatchSettings().thresholds(FITTED) == FITTED
    assert MatchSettings(tau_confirm=0.5).thresholds(FITTED).confirm == 0.5
    assert MatchSettings(tau_high=0.4, tau_confirm=0.5).thresholds(FITTED).confirm == 0.4


def test_middle_band_confirms_the_best_entry_with_two_alternatives(small: Matcher) -> None:
    text = "邻居占了我家宅基地怎么办"
    feats = small.features(text)
    scores = small.scores(feats)
    best = float(scores.max())
    middle = MatchSettings(tau_high=best + 0.01, tau_confirm=best - 0.01, tau_low=0.0)
    result = small.decide(feats, scores, middle)
    assert result.decision == "confirm"
    assert result.entry is not None
    assert result.entry.id == "homestead-encroach"
    assert len(result.alternatives) == 2
    assert result.entry.id not in {c.entry.id for c in result.alternatives}
    obj = result_json(text, result)
    assert obj["decision"] == "confirm"
    assert obj["faq_id"] == "homestead-encroach"
    assert obj["answer"] == result.entry.answer
    assert [s["faq_id"] for s in obj["suggestions"]] == [c.entry.id for c in result.alternatives]
    keys = {"question", "decision", "faq_id", "topic", "score", "answer", "basis", "suggestions"}
    assert set(obj) == keys


def test_answer_and_suggest_json_are_unchanged(small: Matcher) -> None:
    always = Matcher(small_kb(), replace(LEXICAL, tau_high=0.0, tau_low=0.0, delta=0.0))
    answered = result_json("q", always.match("邻居占了我家宅基地怎么办"))
    assert answered["decision"] == "answer"
    assert answered["suggestions"] == []
    listed = result_json("q", small.decide(
        small.features("离婚"), small.scores(small.features("离婚")),
        replace(LEXICAL, tau_high=1.01, tau_low=0.0),
    ))  # fmt: skip
    assert listed["decision"] == "suggest"
    assert listed["faq_id"] is None
    assert listed["suggestions"]


def test_not_for_question_demotes_its_entry() -> None:
    base = small_kb()
    guarded = make_entry(
        "labour-injury-pay",
        "工伤赔偿能赔多少钱？",
        "工伤了老板赔多少钱",
        "断了手指工伤赔偿标准",
        "工地受伤能拿多少赔偿",
    )
    guarded = replace(guarded, not_for=("我是老板工人受伤了我要赔多少钱",))
    entries = tuple(guarded if e.id == guarded.id else e for e in base.entries)
    kb = KnowledgeBase(
        topics=(Topic("test", "测试", entries),), lexicon=base.lexicon, fingerprint="notfor"
    )
    plain = Matcher(base, LEXICAL)
    matcher = Matcher(kb, LEXICAL)
    text = "我是老板，工人受伤了我要赔多少钱"

    def score_of(m: Matcher) -> float:
        feats = m.features(text)
        scores = m.scores(feats)
        return max(
            (float(s) for e, s in zip(feats.entries, scores, strict=True)
             if m.entries[e].id == guarded.id),
            default=0.0,
        )  # fmt: skip

    assert score_of(matcher) < 0.5 * score_of(plain)
    assert matcher.match("工伤赔偿能赔多少钱").candidates[0].entry.id == guarded.id


def test_loader_and_check_read_not_for(tmp_path: Path) -> None:
    faq = tmp_path / "faq"
    faq.mkdir()
    (faq / "t.yaml").write_text(
        """topic: 测试
key: t
entries:
  - id: t-one
    question: 工伤赔偿能赔多少钱？
    variants: [工伤了老板赔多少钱, 断了手指工伤赔偿标准, 工地受伤能拿多少赔偿, 工伤赔多少]
    not_for: [我是老板工人受伤了我要赔多少, 工伤赔多少, 赔]
    answer: 答
    basis: [{law: 中华人民共和国民法典, article: 1}]
    next_steps: 村法律顾问
""",
        encoding="utf-8",
    )
    kb, problems = read_kb(tmp_path)
    assert not [p for p in problems if p.error]
    assert kb.entries[0].not_for[0] == "我是老板工人受伤了我要赔多少"
    reasons = [p.reason for p in check_kb(tmp_path).problems]
    assert any("also a phrasing" in r for r in reasons)
    assert any("too short" in r for r in reasons)


def test_story_details_support_the_asked_part() -> None:
    matcher = Matcher(small_kb(), LEXICAL)
    story = (
        "我跟老公结婚十年了，平时他在外地工地上打工，去年他摔伤了手，"
        "工伤的钱都被他拿走了，现在我们过不下去了。想问一下离婚手续去哪里办？"
    )
    result = matcher.match(story)
    assert result.asked == matcher.normalize("离婚手续去哪里办？")
    assert result.candidates[0].entry.id == "divorce-procedure"


def test_adding_one_phrasing_embeds_one_text(tmp_path: Path) -> None:
    from knowledge import semantic

    settings = replace(LEXICAL, semantic=True, cache_dir=tmp_path)
    Matcher(small_kb(), settings)
    calls: list[int] = []
    real = semantic.Embedder.queries

    def counting(self: semantic.Embedder, texts: list[str]) -> object:
        calls.append(len(texts))
        return real(self, texts)

    base = small_kb()
    first = base.entries[0]
    grown = replace(first, variants=(*first.variants, "隔壁家砌围墙占了我家宅基地"))
    kb = KnowledgeBase(
        topics=(Topic("test", "测试", (grown, *base.entries[1:])),),
        lexicon=base.lexicon,
        fingerprint="grown-by-one",
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(semantic.Embedder, "queries", counting)
        Matcher(kb, settings)
    assert calls == [1]


def test_fitting_and_cross_fitting_on_a_small_kb(small: Matcher) -> None:
    real_cases = [
        Case("r1", "隔壁盖房子把我家地基占了", "entry", ("homestead-encroach",)),
        Case("r2", "离婚要去民政局哪个窗口", "entry", ("divorce-procedure",)),
        Case("r3", "孩子生活费一个月给几多", "entry", ("divorce-support",)),
        Case("r4", "工地上摔断腿赔几多钱", "entry", ("labour-injury-pay",)),
        Case("r5", "宅基地上种什么菜好", "out_of_scope"),
        Case("r6", "今天天气怎么样", "out_of_scope"),
    ]
    names = feature_names(False)
    kb_samples = collect(small, kb_cases(small))
    real = collect(small, real_cases)
    comb = fit_combiner(small, [*kb_samples, *real], [1.0] * len(kb_samples) + [3.0] * 6, names)
    assert comb.names == tuple(names)
    fitted = Matcher(small_kb(), LEXICAL, comb)
    assert fitted.match("宅机地被邻居占了").candidates[0].entry.id == "homestead-encroach"
    oof = cross_fit(small, kb_samples, real, Hyper(3.0, 1.0), names, folds=3)
    assert len(oof) == len(real_cases)
    assert all(0.0 <= s <= 1.0 for o in oof for s in o.scores)


def test_evaluation_scores_exactly_what_match_returns() -> None:
    from knowledge.evalsets import _matcher_outcomes
    from knowledge.loader import load_kb
    from knowledge.scorecard import outcome_of

    matcher = Matcher(load_kb(), MatchSettings())
    texts = [
        "邻居盖房占了我家地基怎么办",
        "老板拖欠工资三个月不给，我该去哪里投诉？",
        "我在工地干了半年活，包工头跑了，工钱一分没拿到，家里老人还等着钱看病。想问能不能找总包公司要？",
        "今天天气怎么样",
        "怎么办",
    ]
    cases = [Case(str(i), t, "out_of_scope") for i, t in enumerate(texts)]
    assert _matcher_outcomes(matcher, cases) == [outcome_of(matcher.match(t)) for t in texts]


def test_dev_set_report_runs_on_the_shipped_kb() -> None:
    from knowledge.evalsets import run_eval
    from knowledge.loader import load_kb

    report = run_eval(load_kb(), "dev", MatchSettings(), rounds=20, baselines=False)
    values = report.systems["matcher"].values
    assert report.systems["matcher"].counts["gold"] > 300
    assert values["top1"] > 0.8
    assert values["confidently_wrong"] < 0.05
    assert "answered_right" in report.table()
