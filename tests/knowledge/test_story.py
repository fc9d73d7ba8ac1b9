"""The asked part of a long message, and what a message asks about (aspect, asker's role)."""

from __future__ import annotations

import pytest

from knowledge.aspects import aspects, entry_profile, roles
from knowledge.story import MAX_ASKED, SHORT, asked_part, clauses, sentences

STORY = (
    "我在县城一个工地上跟着包工头做了大半年的泥工，中间还摔伤过一次，"
    "工钱一直说年底结，现在年底了包工头人也找不到了。想问一下能不能直接找建筑公司要工钱？"
)


def test_short_message_is_its_own_asked_part() -> None:
    text = "宅基地被邻居占了怎么办"
    assert len(text) < SHORT
    assert asked_part(text) == text


def test_ask_marker_starts_the_asked_part() -> None:
    assert asked_part(STORY) == "能不能直接找建筑公司要工钱？"


def test_last_question_sentence_is_asked_without_a_marker() -> None:
    story = (
        "去年我爸走了，留下老家的两间瓦房和一块宅基地，我们兄妹三个，我哥一直住在里面。"
        "现在要拆迁了，我姐出嫁多年还能分到拆迁款吗？后来我哥不同意。"
    )
    assert asked_part(story) == "现在要拆迁了，我姐出嫁多年还能分到拆迁款吗？"


def test_a_bare_question_takes_its_subject_along() -> None:
    story = "隔壁邻居家的狗前天在村口把我家小孩的腿咬伤了，打针花了一千多，邻居一分钱都不肯出。怎么办？"
    asked = asked_part(story)
    assert asked.endswith("怎么办？")
    assert "邻居" in asked


def test_asked_part_is_bounded() -> None:
    story = "我想问，" + "我家的地被别人占了很多年了，" * 20 + "该怎么要回来？"
    assert len(asked_part(story)) <= MAX_ASKED


def test_sentences_and_clauses_keep_order() -> None:
    assert sentences("一。二！三？") == ["一。", "二！", "三？"]
    assert clauses("甲，乙：丙。") == ["甲，", "乙：", "丙。"]


@pytest.mark.parametrize(
    ("text", "aspect"),
    [
        ("工伤赔多少钱", "cost"),
        ("离婚去哪办", "where"),
        ("欠条过了几年还有效", "duration"),
        ("电动车撞了人谁负责", "liable"),
        ("老板扣工资合法吗能不能告", "can"),
    ],
)
def test_aspects(text: str, aspect: str) -> None:
    assert aspect in aspects(text)


def test_roles_tell_the_two_sides_apart() -> None:
    assert "seller" in roles("我开店卖的食品过期了顾客要十倍赔偿")
    assert "consumer" in roles("我买到过期食品商家不肯赔")
    assert "lender" in roles("我借钱给朋友他一直不还我")
    assert "borrower" in roles("我借了网贷还不上天天催收")


def test_entry_profile_keeps_one_side_only() -> None:
    asp, rol = entry_profile(["买到过期食品能赔多少钱", "我买了假货商家不退", "买到假货怎么办"])
    assert "consumer" in rol
    assert "seller" not in rol
    assert "cost" in asp
    _, both = entry_profile(["借钱的纠纷怎么处理", "借给他的钱不还", "我借了钱还不上"])
    assert both == frozenset()
