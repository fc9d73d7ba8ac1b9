"""Villager scenarios through the real PTB Application and the Bot API emulator."""

from __future__ import annotations

from sqlmodel import select

from bot import texts
from bot.ops.telegram_emulator import Fault
from knowledge.models import KnowledgeBase
from storage.models import Consultation, Escalation, Feedback, Villager
from tests.bot.channels.telegram.conftest import Harness

USER = 5001


def _rows(bot: Harness) -> list[Consultation]:
    with bot.service.db.session() as session:
        return list(session.exec(select(Consultation).order_by(Consultation.id)).all())


async def _say(
    bot: Harness, text: str, user: int = USER, count: int = 1, **kw: object
) -> list[str]:
    before = len(bot.emulator.texts_to(kw.get("chat_id", user)))  # type: ignore[arg-type]
    bot.emulator.send_text(user, text, **kw)  # type: ignore[arg-type]
    await bot.emulator.wait_for(
        lambda: len(bot.emulator.texts_to(kw.get("chat_id", user))) >= before + count
    )  # type: ignore[arg-type]
    return bot.emulator.texts_to(kw.get("chat_id", user))[before:]  # type: ignore[arg-type]


async def test_command_menu_is_set_at_start(bot: Harness) -> None:
    commands = bot.emulator.sent("setMyCommands")[0]["commands"]
    assert {c["command"] for c in commands} >= {
        "start",
        "help",
        "topics",
        "elder",
        "mydata",
        "forget",
    }


async def test_start_asks_for_the_village_with_a_keyboard(bot: Harness) -> None:
    texts_sent = await _say(bot, "/start", count=2)
    assert "110" in texts_sent[0]
    keyboard = bot.emulator.sent("sendMessage", USER)[-1]["reply_markup"]["inline_keyboard"]
    labels = [b["text"] for row in keyboard for b in row]
    assert "外洪村" in labels


async def test_deep_link_binds_the_village(bot: Harness) -> None:
    await _say(bot, "/start donggang", count=2)
    with bot.service.db.session() as session:
        assert session.exec(select(Villager)).one().village_code == "donggang"


async def test_a_question_gets_the_answer_and_feedback_is_stored(
    bot: Harness, kb: KnowledgeBase
) -> None:
    await _say(bot, "/start xinwu", count=2)
    entry = kb.entries[2]
    [answer] = await _say(bot, entry.question)
    assert answer.startswith(entry.answer)
    assert "依据：" in answer
    markup = bot.emulator.sent("sendMessage", USER)[-1]["reply_markup"]["inline_keyboard"]
    actions = [b["callback_data"] for row in markup for b in row]
    thumbs_down = next(a for a in actions if a.startswith("fb:") and a.endswith(":n"))
    before = len(bot.emulator.texts_to(USER))
    bot.emulator.press(USER, thumbs_down)
    await bot.emulator.wait_for(lambda: len(bot.emulator.texts_to(USER)) > before)
    assert bot.emulator.texts_to(USER)[-1] == texts.ASK_REASON
    assert bot.emulator.sent("answerCallbackQuery")
    row = _rows(bot)[-1]
    assert (row.decision, row.faq_id, row.village_code, row.channel) == (
        "answer",
        entry.id,
        "xinwu",
        "telegram",
    )
    with bot.service.db.session() as session:
        assert session.exec(select(Feedback)).one().helpful is False


async def test_edited_messages_are_new_questions(bot: Harness) -> None:
    await _say(bot, "请问怎么办")
    before = len(bot.emulator.texts_to(USER))
    bot.emulator.edit_text(USER, 1, "请问你好")
    await bot.emulator.wait_for(lambda: len(bot.emulator.texts_to(USER)) > before)
    assert [r.decision for r in _rows(bot)] == ["clarify", "clarify"]


async def test_voice_photo_and_sticker_get_a_friendly_reply_and_are_logged(bot: Harness) -> None:
    voice = {"file_id": "v", "file_unique_id": "v1", "duration": 3}
    sticker = {
        "file_id": "s",
        "file_unique_id": "s1",
        "type": "regular",
        "width": 1,
        "height": 1,
        "is_animated": False,
        "is_video": False,
    }
    photo = [{"file_id": "p", "file_unique_id": "p1", "width": 1, "height": 1}]
    for extra in ({"voice": voice}, {"sticker": sticker}, {"photo": photo}):
        before = len(bot.emulator.texts_to(USER))
        bot.emulator.push("message", bot.emulator.message(USER, None, **extra))
        await bot.emulator.wait_for(
            lambda before=before: len(bot.emulator.texts_to(USER)) > before
        )
    assert "12348" in bot.emulator.texts_to(USER)[0]
    assert [r.kind for r in _rows(bot)] == ["voice", "sticker", "photo"]


async def test_group_messages_are_ignored_unless_the_bot_is_mentioned(
    bot: Harness, kb: KnowledgeBase
) -> None:
    group = -100123
    bot.emulator.send_text(USER, kb.entries[0].question, chat_id=group, chat_type="group")
    answer = await _say(
        bot, f"@village_law_bot {kb.entries[0].question}", chat_id=group, chat_type="group"
    )
    assert answer[0].startswith(kb.entries[0].answer)
    assert len(_rows(bot)) == 1


async def test_unknown_commands_get_a_hint(bot: Harness) -> None:
    assert await _say(bot, "/frobnicate") == [texts.UNKNOWN_COMMAND]


async def test_escalation_names_the_advisor_and_is_recorded(bot: Harness) -> None:
    await _say(bot, "/start mashan", count=2)
    await _say(bot, "请问怎么办")
    clarify_id = _rows(bot)[-1].id
    before = len(bot.emulator.texts_to(USER))
    bot.emulator.press(USER, f"adv:{clarify_id}")
    await bot.emulator.wait_for(lambda: len(bot.emulator.texts_to(USER)) > before)
    assert "马山村法律顾问" in bot.emulator.texts_to(USER)[-1]
    with bot.service.db.session() as session:
        assert session.exec(select(Escalation)).one().village_code == "mashan"


async def test_a_429_is_retried_and_the_villager_still_gets_one_reply(
    bot: Harness, kb: KnowledgeBase
) -> None:
    bot.emulator.fail("sendMessage", Fault(429, "Too Many Requests: retry after 1", retry_after=1))
    [answer] = await _say(bot, kb.entries[0].question)
    assert answer.startswith(kb.entries[0].answer)
    assert len(bot.emulator.texts_to(USER)) == 1


async def test_a_failing_send_is_logged_and_the_bot_keeps_working(
    bot: Harness, kb: KnowledgeBase
) -> None:
    emulator = bot.emulator
    emulator.fail("sendMessage", Fault(500, "Internal Server Error", times=2))
    emulator.send_text(USER, kb.entries[0].question)
    await emulator.wait_for(lambda: len(_rows(bot)) == 1)
    await emulator.wait_for(lambda: sum(c.method == "sendMessage" for c in emulator.calls) >= 2)
    emulator.send_text(USER, kb.entries[1].question)
    await emulator.wait_for(
        lambda: any(t.startswith(kb.entries[1].answer) for t in emulator.texts_to(USER))
    )
    assert len(_rows(bot)) == 2


async def test_twenty_messages_at_once_get_twenty_answers(bot: Harness, kb: KnowledgeBase) -> None:
    user = 5077
    await _say(bot, "/start waihong", user=user, count=2)
    questions = [e.question for t in kb.topics for e in t.entries][:20]
    before = len(bot.emulator.texts_to(user))
    for question in questions:
        bot.emulator.send_text(user, question)
    limit = bot.service.config.conversation.max_messages_per_minute

    def rows(*decisions: str) -> list[Consultation]:
        return [r for r in _rows(bot) if r.raw_text in questions and r.decision in decisions]

    await bot.emulator.wait_for(lambda: len(rows("throttled", "released")) == 20 - limit)
    clock = bot.service.clock
    assert hasattr(clock, "advance")
    clock.advance(seconds=61)  # the pace allows the held messages now
    answered_kinds = ("answer", "confirm", "suggest", "escalate", "clarify", "urgent", "follow_up")
    await bot.emulator.wait_for(lambda: len(rows(*answered_kinds)) == 20, within=20.0)
    assert not rows("throttled")
    answered = rows(*answered_kinds)
    assert [r.raw_text for r in answered] == questions, "answered in the order sent"
    await bot.emulator.wait_for(lambda: len(bot.emulator.texts_to(user)) >= before + 21)
