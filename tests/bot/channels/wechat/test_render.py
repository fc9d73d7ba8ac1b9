"""Buttons as numbered lines and keywords, and messages cut to WeChat's 2048 bytes (pure)."""

from __future__ import annotations

from bot import texts
from bot.channels.wechat.render import render, split_text, typed_number
from bot.services import actions
from bot.services.replies import Button, Reply, asks_for_person


def test_the_advisor_keyword_is_a_word_the_service_reads_as_asking_for_a_person() -> None:
    assert asks_for_person(texts.WECHAT_ADVISOR_KEYWORD)
    assert texts.WECHAT_ADVISOR_KEYWORD in texts.WECHAT_ADVISOR_HINT


def test_channel_numbers_follow_the_service_list_and_map_back_to_the_actions() -> None:
    suggest = Reply(
        texts.SUGGEST_INTRO,
        (
            (Button("宅基地能继承吗", "pick:7:0"),),
            (Button("宅基地怎么申请", "pick:7:1"),),
            (Button(texts.BUTTON_NONE_OF_THESE, "adv:7"),),
        ),
    )
    villages = Reply(
        texts.ASK_VILLAGE, ((Button("外洪村", "v:waihong"), Button("邵畈村", "v:shaofan")),)
    )
    rendered = render([suggest, villages])
    lines = rendered.text.splitlines()
    assert "1. 宅基地能继承吗" in lines
    assert "2. 宅基地怎么申请" in lines
    assert texts.SUGGEST_NUMBERED_HINT in lines
    assert "3. 外洪村" in lines  # after the service's 1 and 2
    assert "4. 邵畈村" in lines
    assert rendered.offer.numbers == {3: "v:waihong", 4: "v:shaofan"}
    assert rendered.offer.advisor == "adv:7"


def test_an_answer_offers_numbered_feedback_and_the_advisor_as_a_keyword() -> None:
    answer = Reply(
        "答案",
        (
            (Button(texts.BUTTON_HELPFUL, "fb:3:y"), Button(texts.BUTTON_NOT_HELPFUL, "fb:3:n")),
            (Button(texts.BUTTON_LAW, "law:3"), Button(texts.BUTTON_ADVISOR, "adv:3")),
        ),
    )
    rendered = render([answer])
    assert rendered.text.splitlines() == [
        "答案",
        f"1. {texts.BUTTON_HELPFUL}",
        f"2. {texts.BUTTON_NOT_HELPFUL}",
        f"3. {texts.BUTTON_LAW}",
        texts.WECHAT_CHOICE_HINT,
        texts.WECHAT_ADVISOR_HINT,
    ]
    assert rendered.offer.numbers == {1: "fb:3:y", 2: "fb:3:n", 3: "law:3"}
    assert rendered.offer.advisor == actions.encode(actions.ADVISOR, 3)


def test_an_already_numbered_confirm_is_not_numbered_twice() -> None:
    text = "\n".join(
        ["答案", texts.CONFIRM_NOT_THIS, "1. 另一个问题", texts.CONFIRM_NUMBERED_HINT]
    )
    rendered = render([Reply(text, ((Button("1. 另一个问题", "pick:9:1"),),))])
    assert rendered.text == text
    assert rendered.offer.numbers == {}


def test_long_texts_are_cut_between_paragraphs_within_2048_bytes() -> None:
    paragraphs = ["甲" * 400, "乙" * 400, "丙" * 900]  # 1200, 1200 and 2700 bytes
    chunks = split_text("\n\n".join(paragraphs))
    assert all(len(c.encode()) <= 2048 for c in chunks)
    assert chunks[0] == "甲" * 400
    assert "".join(chunks).replace("\n", "") == "".join(paragraphs)


def test_typed_numbers_include_full_width_digits_and_nothing_else() -> None:
    assert typed_number(" 3 ") == 3
    assert typed_number("１２") == 12
    assert typed_number("3号") is None
    assert typed_number("123") is None
