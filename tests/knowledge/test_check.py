"""`kb check`: the shipped KB is valid against the law texts; each error kind is caught."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.check import check_kb
from knowledge.numerals import chinese_to_int, int_to_chinese, parse_article

ANSWER = "这是一个用来测试的答案，内容需要足够长才能通过长度检查。" * 3
GOOD_ENTRY = f"""
  - id: demo-good
    question: 邻居占了我家宅基地怎么办
    variants: [隔壁盖房占我家地, 宅基地被邻居占了, 邻居起屋压了我家地基, 邻居建房越界了]
    answer: {ANSWER}
    short: 可以要求排除妨碍。
    basis:
      - law: 中华人民共和国民法典
        article: 236
    next_steps: 找村法律顾问。
"""


def _kb(tmp_path: Path, entries: str, *, topic: str = "宅基地", key: str = "homestead") -> Path:
    faq = tmp_path / "kb" / "faq"
    faq.mkdir(parents=True, exist_ok=True)
    (faq / f"{key}.yaml").write_text(
        f"topic: {topic}\nkey: {key}\nentries:{entries}", encoding="utf-8"
    )
    return tmp_path / "kb"


def _reasons(tmp_path: Path, laws_dir: Path, entries: str) -> list[str]:
    result = check_kb(_kb(tmp_path, entries), laws_dir)
    return [p.reason for p in result.errors]


def test_the_shipped_kb_passes_against_the_law_texts(laws_dir: Path) -> None:
    result = check_kb(None, laws_dir)
    assert result.errors == []
    assert len(result.kb.entries) >= 300
    assert len(result.kb.topics) >= 17
    assert len(result.kb.lexicon.synonyms) >= 300


def test_a_good_fixture_has_no_errors(tmp_path: Path, laws_dir: Path) -> None:
    assert _reasons(tmp_path, laws_dir, GOOD_ENTRY) == []


def test_bad_schema_is_reported(tmp_path: Path, laws_dir: Path) -> None:
    broken = GOOD_ENTRY.replace("    question: 邻居占了我家宅基地怎么办\n", "")
    assert any("question" in r for r in _reasons(tmp_path, laws_dir, broken))


def test_a_duplicate_id_is_reported(tmp_path: Path, laws_dir: Path) -> None:
    second = GOOD_ENTRY.replace("邻居", "隔壁邻居").replace("宅基地被", "地基被")
    assert any("duplicate id" in r for r in _reasons(tmp_path, laws_dir, GOOD_ENTRY + second))


def test_a_missing_article_is_reported(tmp_path: Path, laws_dir: Path) -> None:
    broken = GOOD_ENTRY.replace("article: 236", "article: 9999")
    assert any("no such article" in r for r in _reasons(tmp_path, laws_dir, broken))


def test_an_article_label_is_accepted_in_chinese(tmp_path: Path, laws_dir: Path) -> None:
    labelled = GOOD_ENTRY.replace("article: 236", "article: 第二百三十六条")
    assert _reasons(tmp_path, laws_dir, labelled) == []


def test_a_missing_law_is_reported(tmp_path: Path, laws_dir: Path) -> None:
    broken = GOOD_ENTRY.replace("中华人民共和国民法典", "中华人民共和国不存在法")
    assert any("no such law file" in r for r in _reasons(tmp_path, laws_dir, broken))


@pytest.mark.parametrize(
    "law", ["中华人民共和国婚姻法", "中华人民共和国继承法", "合同法", "中华人民共和国物权法"]
)
def test_a_repealed_law_is_reported(tmp_path: Path, laws_dir: Path, law: str) -> None:
    broken = GOOD_ENTRY.replace("中华人民共和国民法典", law)
    assert any("repealed" in r for r in _reasons(tmp_path, laws_dir, broken))


def test_a_phrasing_shared_by_two_entries_is_reported(tmp_path: Path, laws_dir: Path) -> None:
    other = GOOD_ENTRY.replace("demo-good", "demo-other").replace(
        "question: 邻居占了我家宅基地怎么办", "question: 宅基地确权去哪办"
    )
    assert any("duplicate phrasing" in r for r in _reasons(tmp_path, laws_dir, GOOD_ENTRY + other))


def test_too_few_variants_and_a_short_answer_are_reported(tmp_path: Path, laws_dir: Path) -> None:
    broken = GOOD_ENTRY.replace(", 邻居起屋压了我家地基, 邻居建房越界了", "").replace(
        f"answer: {ANSWER}", "answer: 太短了"
    )
    reasons = _reasons(tmp_path, laws_dir, broken)
    assert any("variants" in r for r in reasons)
    assert any("answer" in r for r in reasons)


def test_near_duplicate_phrasings_across_entries_are_warnings(
    tmp_path: Path, laws_dir: Path
) -> None:
    other = GOOD_ENTRY.replace("demo-good", "demo-near")
    other = other.replace("邻居占了我家宅基地怎么办", "邻居占了我家宅基地咋办").replace(
        "隔壁盖房占我家地", "隔壁盖房子占我家地"
    )
    other = (
        other.replace("宅基地被邻居占了", "宅基地被邻居占去了")
        .replace("邻居起屋压了我家地基", "邻居起屋压到我家地基")
        .replace("邻居建房越界了", "邻居建房越了界")
    )
    result = check_kb(_kb(tmp_path, GOOD_ENTRY + other), laws_dir)
    assert result.errors == []
    assert any("near duplicate" in p.reason for p in result.warnings)


def test_the_cli_exits_non_zero_with_file_entry_and_reason(tmp_path: Path, laws_dir: Path) -> None:
    kb = _kb(tmp_path, GOOD_ENTRY.replace("article: 236", "article: 9999"))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "kb",
            "check",
            "--kb",
            str(kb),
            "--laws",
            str(laws_dir),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    line = next(x for x in run.stdout.splitlines() if "no such article" in x)
    assert "homestead.yaml" in line
    assert "demo-good" in line


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1, "一"),
        (10, "十"),
        (15, "十五"),
        (105, "一百零五"),
        (110, "一百一十"),
        (236, "二百三十六"),
        (1010, "一千零一十"),
        (1079, "一千零七十九"),
        (1260, "一千二百六十"),
    ],
)
def test_article_numbers_round_trip_through_chinese_numerals(number: int, text: str) -> None:
    assert int_to_chinese(number) == text
    assert chinese_to_int(text) == number
    assert parse_article(number) == f"第{text}条"
    assert parse_article(f"第{number}条") == f"第{text}条"


def test_inserted_articles_keep_their_suffix() -> None:
    assert parse_article("第133条之一") == "第一百三十三条之一"
