"""The matcher on the shipped KB and on small in-test KBs (no mocks)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from knowledge.matcher import Candidate, Matcher, MatchResult, MatchSettings
from knowledge.models import Citation, Entry, KnowledgeBase, Lexicon, Topic

LEXICAL = MatchSettings(tau_high=0.6, tau_low=0.25, delta=0.15, semantic=False)
DECISIONS = {"answer", "confirm", "suggest", "escalate", "clarify"}


def make_entry(
    entry_id: str, question: str, *variants: str, keywords: tuple[str, ...] = ()
) -> Entry:
    return Entry(
        id=entry_id,
        topic_key=entry_id.split("-")[0],
        topic="测试",
        question=question,
        variants=variants,
        answer=f"{question}的回答。",
        short="",
        basis=(Citation("中华人民共和国民法典", 236, "第二百三十六条"),),
        next_steps="村法律顾问",
        keywords=keywords,
    )


def small_kb() -> KnowledgeBase:
    entries = (
        make_entry(
            "homestead-encroach",
            "邻居盖房占了我家宅基地怎么办？",
            "隔壁起屋子把我家地基占了一块",
            "宅基地被邻居占了",
            "邻居建房越界占我家地",
            keywords=("宅基地", "占地"),
        ),
        make_entry(
            "divorce-procedure",
            "离婚手续去哪办？",
            "想跟老公离婚去哪里办",
            "协议离婚怎么办理",
            "两个人都同意离婚要带什么去民政局",
        ),
        make_entry(
            "divorce-support",
            "离婚后孩子抚养费给多少钱？",
            "抚养费一个月给多少",
            "孩子抚养费标准是多少",
            "前夫不给孩子生活费",
        ),
        make_entry(
            "labour-injury-pay",
            "工伤赔偿能赔多少钱？",
            "工伤了老板赔多少钱",
            "断了手指工伤赔偿标准",
            "工地受伤能拿多少赔偿",
        ),
    )
    lexicon = Lexicon(
        synonyms={"地基": "宅基地", "工钱": "工资", "堂客": "妻子"},
        words=(("宅基地", 2000, "n"), ("抚养费", 2000, "n")),
    )
    topic = Topic(key="test", name="测试", entries=entries)
    return KnowledgeBase(topics=(topic,), lexicon=lexicon, fingerprint="small-test-kb")


@pytest.fixture(name="small", scope="module")
def small_fixture() -> Matcher:
    return Matcher(small_kb(), LEXICAL)


@pytest.fixture(name="shipped", scope="module")
def shipped_fixture(kb: KnowledgeBase) -> Matcher:
    return Matcher(kb, LEXICAL)


# -- small KB ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "gold"),
    [
        ("宅基地被隔壁占了", "homestead-encroach"),
        ("宅机地被邻居占了", "homestead-encroach"),  # homophone typo
        ("隔壁起屋占了我家地基", "homestead-encroach"),  # synonym 地基 → 宅基地
        ("離婚手續去哪裡辦", "divorce-procedure"),  # traditional characters
        ("公伤陪常多少钱", "labour-injury-pay"),  # homophone typos
        ("孩子抚样费给几多钱", "divorce-support"),
    ],
)
def test_small_kb_ranks_right_entry_first(small: Matcher, text: str, gold: str) -> None:
    result = small.match(text)
    assert result.decision in {"answer", "suggest"}
    assert result.candidates[0].entry.id == gold


@pytest.mark.parametrize(
    "text", ["怎么办", "你好", "在吗？", "请问", "谢谢！", "", "   ", "😀😀", "多少钱"]
)
def test_nothing_content_bearing_asks_to_clarify(small: Matcher, text: str) -> None:
    result = small.match(text)
    assert result.decision == "clarify"
    assert result.candidates == ()
    assert result.entry is None
    assert result.score == 0.0


@pytest.mark.parametrize("text", ["今天天气怎么样", "红烧肉怎么做好吃", "高铁票怎么买"])
def test_unrelated_questions_are_not_answered(small: Matcher, text: str) -> None:
    assert small.match(text).decision in {"escalate", "suggest", "clarify"}


def test_result_shape(small: Matcher) -> None:
    result = small.match("邻居占了我家宅基地怎么办")
    ids = [c.entry.id for c in result.candidates]
    assert len(ids) == len(set(ids))
    assert 1 <= len(ids) <= LEXICAL.max_suggestions
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert result.score == scores[0]
    assert result.normalized == "邻居占了我家宅基地怎么办"


def test_decision_rule_thresholds(small: Matcher) -> None:
    text = "邻居占了我家宅基地怎么办"
    always = Matcher(small_kb(), replace(LEXICAL, tau_high=0.0, tau_low=0.0, delta=0.0))
    answer = always.match(text)
    assert answer.decision == "answer"
    assert answer.entry is not None
    assert answer.entry.id == "homestead-encroach"
    never = small.decide(small.features(text), small.scores(small.features(text)),
                         replace(LEXICAL, tau_high=1.01, tau_low=0.0))  # fmt: skip
    assert never.decision == "suggest"
    assert never.entry is None
    escalate = small.decide(small.features(text), small.scores(small.features(text)),
                            replace(LEXICAL, tau_high=1.01, tau_low=1.01))  # fmt: skip
    assert escalate.decision == "escalate"


def test_answer_needs_lead_over_runner_up(small: Matcher) -> None:
    feats = small.features("离婚孩子")
    scores = small.scores(feats)
    best, second = sorted(scores, reverse=True)[:2]
    gap = float(best - second)
    wide = replace(LEXICAL, tau_high=0.0, delta=gap + 0.01)
    assert small.decide(feats, scores, wide).decision != "answer"
    narrow = replace(LEXICAL, tau_high=0.0, delta=max(gap - 0.01, 0.0))
    assert small.decide(feats, scores, narrow).decision == "answer"


def test_max_suggestions(small: Matcher) -> None:
    one = Matcher(small_kb(), replace(LEXICAL, max_suggestions=1))
    assert len(one.match("离婚").candidates) == 1


def test_with_kb_rebuilds(small: Matcher) -> None:
    kb = small_kb()
    extra = make_entry("debt-iou", "借钱不还怎么办？", "借条到期了他不还钱", "欠钱不还能起诉吗")
    topic = Topic(key="debt", name="借贷", entries=(extra,))
    bigger = KnowledgeBase(topics=(*kb.topics, topic), lexicon=kb.lexicon, fingerprint="bigger")
    rebuilt = small.with_kb(bigger)
    assert rebuilt.settings == small.settings
    assert rebuilt.match("借钱不还钱怎么办").candidates[0].entry.id == "debt-iou"
    assert "debt-iou" not in {c.entry.id for c in small.match("借钱不还钱怎么办").candidates}


def test_empty_kb_never_fails() -> None:
    matcher = Matcher(KnowledgeBase(topics=()), LEXICAL)
    assert matcher.match("宅基地被占了").decision == "escalate"
    assert matcher.match("怎么办").decision == "clarify"


def test_semantic_signal_with_disk_cache(tmp_path: Path) -> None:
    settings = replace(LEXICAL, semantic=True, cache_dir=tmp_path)
    first = Matcher(small_kb(), settings)
    caches = list(tmp_path.glob("e5-*.npz"))
    assert len(caches) == 1
    stamp = caches[0].stat().st_mtime_ns
    second = Matcher(small_kb(), settings)
    assert caches[0].stat().st_mtime_ns == stamp  # warm cache: nothing re-embedded
    a, b = first.match("邻居起房子占我家的地"), second.match("邻居起房子占我家的地")
    assert a.candidates[0].entry.id == b.candidates[0].entry.id == "homestead-encroach"
    assert a.decision == b.decision


# -- shipped KB -------------------------------------------------------------------------------


def test_shipped_canonical_questions_find_themselves(shipped: Matcher) -> None:
    entries = shipped.entries
    assert len(entries) >= 20
    hits = sum(shipped.match(e.question).candidates[0].entry.id == e.id for e in entries)
    assert hits / len(entries) >= 0.95


def test_shipped_answers_are_mostly_right(shipped: Matcher) -> None:
    wrong = 0
    answered = 0
    for entry in shipped.entries:
        for text in entry.variants[:2]:
            result = shipped.match(text)
            if result.decision == "answer":
                answered += 1
                wrong += result.entry is not None and result.entry.id != entry.id
    assert answered > 0
    assert wrong / answered <= 0.05


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "😀" * 50,
        "！？。，" * 10,
        "我" * 10000,
        "abc 123 宅基地 DEF 456",
        "\x00\x01\x02 工资 \x7f",
        "13812345678",
        "Ｈｅｌｌｏ，律师！",
        "\ud800",
        "宅基地" * 3000,
    ],
)
def test_bad_input_never_raises(shipped: Matcher, text: str) -> None:
    result = shipped.match(text)
    assert isinstance(result, MatchResult)
    assert result.decision in DECISIONS
    assert all(isinstance(c, Candidate) for c in result.candidates)


def test_out_of_scope_near_miss_not_answered(shipped: Matcher) -> None:
    for text in ("宅基地上种什么菜好", "今天天气怎么样", "红烧肉怎么做好吃", "帮我写个请假条"):
        assert shipped.match(text).decision != "answer", text


# -- lawbot ask -------------------------------------------------------------------------------


def test_ask_json_contract(tmp_path: Path) -> None:
    import typer

    from bot.cli.matching import register

    app = typer.Typer()
    register(app)
    kb_dir = Path(__file__).resolve().parents[2] / "knowledge"
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["ask", "--kb", str(kb_dir), "--json", "--no-semantic", "--cache-dir", str(tmp_path)],
        input="邻居占了我家宅基地怎么办\n怎么办\n今天天气怎么样\n",
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 3
    keys = {"question", "decision", "faq_id", "topic", "score", "answer", "basis", "suggestions",
            "urgent"}  # fmt: skip
    for obj in lines:
        assert set(obj) == keys
        assert obj["decision"] in DECISIONS
        assert 0.0 <= obj["score"] <= 1.0
    assert lines[1]["decision"] == "clarify"
    for obj in lines:
        if obj["decision"] == "answer":
            assert obj["faq_id"]
            assert obj["answer"]
            assert obj["basis"]
            assert {"law", "article"} <= set(obj["basis"][0])
        for s in obj["suggestions"]:
            assert set(s) == {"faq_id", "question", "score"}


def test_index_cache_round_trip(tmp_path: Path) -> None:
    settings = replace(LEXICAL, cache_dir=tmp_path)
    built = Matcher(small_kb(), settings)
    assert len(list(tmp_path.glob("index-*.pkl"))) == 1
    loaded = Matcher(small_kb(), settings)
    assert loaded.phrasings == built.phrasings
    for text in ("宅机地被邻居占了", "离婚孩子抚养费", "工伤赔多少"):
        a, b = built.match(text), loaded.match(text)
        assert a.decision == b.decision
        assert [(c.entry.id, c.score) for c in a.candidates] == [
            (c.entry.id, c.score) for c in b.candidates
        ]


def test_changed_kb_gets_a_new_index(tmp_path: Path) -> None:
    settings = replace(LEXICAL, cache_dir=tmp_path)
    Matcher(small_kb(), settings)
    kb = small_kb()
    extra = make_entry("debt-iou", "借钱不还怎么办？", "借条到期了他不还钱")
    same_fp = KnowledgeBase(
        topics=(*kb.topics, Topic(key="debt", name="借贷", entries=(extra,))),
        lexicon=kb.lexicon,
        fingerprint=kb.fingerprint,  # same fingerprint, different content
    )
    matcher = Matcher(same_fp, settings)
    assert len(list(tmp_path.glob("index-*.pkl"))) == 2
    assert matcher.match("借钱不还怎么办").candidates[0].entry.id == "debt-iou"
