"""Normalisation: width, script, punctuation, fillers, question types, synonyms."""

from __future__ import annotations

import pytest

from knowledge.normalize import MAX_CHARS, Replacer, normalize, question_types, replacer


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("請問，離婚後孩子撫養費怎麼算？？", "离婚后孩子抚养费怎么算"),
        ("ＡＢＣ１２３", "abc123"),
        ("宅基地被占了😡😡！！", "宅基地被占了"),
        ("你好，我想问一下宅基地被占了咋办啊", "宅基地被占了怎么办"),
        ("在吗？老板不给工资呢", "老板不给工资"),
        ("hello   world", "hello world"),
        ("abc 宅基地 def", "abc宅基地def"),
    ],
)
def test_normalize_examples(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "   ", "\n\t", "😀🎉", "？！。，", "\x00\x07\x1b", "你好", "在吗"]
)
def test_empty_after_normalisation(raw: str) -> None:
    assert normalize(raw) == ""


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("离婚要几多钱", "cost"),
        ("工伤认定去哪里办", "where"),
        ("离婚需要什么材料", "materials"),
        ("劳动仲裁要多长时间", "duration"),
    ],
)
def test_question_type_words_survive(raw: str, kind: str) -> None:
    norm = normalize(raw)
    assert kind in question_types(norm)


def test_question_types_separate_texts() -> None:
    assert question_types(normalize("离婚多少钱")) != question_types(normalize("离婚去哪办"))


def test_synonyms_longest_match_first() -> None:
    synonyms = {"老板跑了": "拖欠工资", "老板": "雇主", "工钱": "工资"}
    assert normalize("老板跑了工钱没给", synonyms) == "拖欠工资工资没给"
    assert normalize("老板不给工钱", synonyms) == "雇主不给工资"


def test_synonym_never_fires_inside_protected_word() -> None:
    rep = replacer({"地基": "宅基地"}, protected=["宅基地"])
    assert rep("我家宅基地被占") == "我家宅基地被占"
    assert rep("我家地基被占") == "我家宅基地被占"


def test_canonical_words_are_protected() -> None:
    # "基地" is inside the canonical "宅基地": the replacement must not touch it.
    rep = Replacer({"基地": "营地", "屋场": "宅基地"})
    assert rep("屋场和宅基地") == "宅基地和宅基地"


def test_replacement_is_single_pass() -> None:
    rep = Replacer({"甲乙": "乙丙", "乙丙": "丁"})
    assert rep("甲乙") == "乙丙"


def test_kb_synonyms_win_over_builtin() -> None:
    assert normalize("啥子赔偿", {"啥子": "哪些"}) == "哪些赔偿"


def test_dialect_builtin_forms() -> None:
    assert normalize("伢崽冇人管么子办") == "伢崽没有人管什么办"
    assert normalize("老板跑了咋办") == "老板跑了怎么办"


def test_long_message_is_capped() -> None:
    text = "我" + "很" * 10000 + "宅基地被占了怎么办"
    norm = normalize(text)
    assert len(norm) <= MAX_CHARS
    assert norm.endswith("宅基地被占了怎么办")


def test_control_and_mixed_input() -> None:
    assert (
        normalize("工资\x00拖欠\u200b了 3 个月 call 13812345678")
        == "工资拖欠了3个月call 13812345678"
    )
