"""No question swallowed, no danger missed: typed requests for a person, new questions inside an
open advisor thread, and emergencies in everyday wording."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from bot import texts
from bot.services.consultation import ConsultationService
from bot.services.outcomes import Sender
from storage.clock import ManualClock
from storage.models import Consultation, Escalation
from tests.bot.services.test_escalations import _escalate

VILLAGER = Sender("telegram", "3101", "3101")


@pytest.mark.parametrize("typed", ["转人工", "我要找律师", "找法律顾问", "人工服务"])
def test_typing_for_a_person_escalates_to_the_village_advisor(
    service: ConsultationService, typed: str
) -> None:
    service.start(VILLAGER, "waihong")
    outcome = service.ask(VILLAGER, typed)
    assert outcome.decision == "escalate"
    assert outcome.notices, "the advisor gets a card"
    with service.db.session() as session:
        escalation = session.exec(select(Escalation)).one()
        consultation = session.get(Consultation, escalation.consultation_id)
    assert consultation is not None
    assert consultation.raw_text == typed


def test_a_story_that_mentions_a_lawyer_is_still_matched(service: ConsultationService) -> None:
    service.start(VILLAGER, "waihong")
    outcome = service.ask(VILLAGER, "我家的田承包合同写了三十年，到期了还能不能续包，要不要找律师")
    assert outcome.decision != "escalate" or not outcome.notices


def test_a_new_question_inside_an_open_thread_is_answered(service: ConsultationService) -> None:
    _escalate(service, VILLAGER)
    entry = service.kb.entry("land-contract-term")
    assert entry is not None
    outcome = service.ask(VILLAGER, entry.question)
    assert outcome.decision == "answer"
    assert outcome.replies[0].text.startswith(entry.answer[:20])
    assert outcome.replies[-1].text == texts.THREAD_STILL_OPEN


def test_a_reply_inside_an_open_thread_still_reaches_the_advisor(
    service: ConsultationService,
) -> None:
    _escalate(service, VILLAGER)
    outcome = service.ask(VILLAGER, "好的，我晚上把欠条拍给您")
    assert any("欠条" in n.reply.text for n in outcome.notices)
    with service.db.session() as session:
        row = session.get(Consultation, outcome.consultation_id)
    assert row is not None
    assert row.decision == "follow_up"


@pytest.mark.parametrize(
    "message",
    [
        "有人在砍人",
        "有人在我家门口杀人",
        "有人放火烧我家房子",
        "隔壁男的天天打老婆",
        "我被家抱了",
        "我伢崽被人拐走了",
        "活着冇意思",
        "想喝药",
        "老公昨晚打我",
    ],
)
def test_emergencies_in_everyday_wording_get_the_numbers_first(
    service: ConsultationService, message: str
) -> None:
    service.start(VILLAGER, "waihong")
    outcome = service.ask(VILLAGER, message)
    assert outcome.decision == "urgent"
    assert "110" in outcome.replies[0].text or "12356" in outcome.replies[0].text


def test_an_emergency_inside_an_open_thread_is_still_triaged(
    service: ConsultationService,
) -> None:
    _escalate(service, VILLAGER)
    outcome = service.ask(VILLAGER, "有人在我家门口砍人")
    assert outcome.decision == "urgent"


@pytest.mark.parametrize("typed", ["谢谢", "好的", "知道了", "谢谢啊", "嗯嗯"])
def test_thanks_get_a_short_closing_not_a_match(service: ConsultationService, typed: str) -> None:
    service.start(VILLAGER, "waihong")
    outcome = service.ask(VILLAGER, typed)
    assert outcome.replies[0].text == texts.CLOSING
    assert not outcome.notices


def test_thanks_inside_an_open_thread_are_not_sent_to_the_advisor(
    service: ConsultationService,
) -> None:
    _escalate(service, VILLAGER)
    outcome = service.ask(VILLAGER, "谢谢")
    assert outcome.replies[0].text == texts.CLOSING
    assert not outcome.notices


def test_a_thread_closes_a_day_after_the_advisor_answers(
    service: ConsultationService, clock: ManualClock
) -> None:
    from tests.bot.services.test_escalations import _people

    _, escalation_id = _escalate(service, VILLAGER)
    advisor, _, _ = _people(service.config)
    service.advisor_command(advisor, "reply", f"{escalation_id} 请带上欠条来村委会找我")
    clock.advance(hours=2)
    assert service.ask(VILLAGER, "好，我下午就带过去可以吗").decision == "follow_up"
    clock.advance(hours=service.config.conversation.thread_hours)
    later = service.ask(VILLAGER, "我家的狗把邻居咬了要赔多少")
    assert later.decision != "follow_up", "a day after the answer a new question is new"


@pytest.mark.parametrize("typed", ["重新问", "问新问题", "换个问题吧"])
def test_typing_start_again_leaves_the_thread_and_the_list(
    service: ConsultationService, typed: str
) -> None:
    _escalate(service, VILLAGER)
    outcome = service.ask(VILLAGER, typed)
    assert outcome.replies[0].text == texts.NEW_QUESTION
    assert not outcome.notices, "nothing goes to the advisor"
    follow = service.ask(VILLAGER, "我家的狗把邻居咬了要赔多少")
    assert follow.decision != "follow_up", "the next message is a new question"


def test_a_number_after_start_again_picks_nothing_from_the_old_list(
    service: ConsultationService,
) -> None:
    first, second = service.kb.entries[0], service.kb.entries[1]
    service.start(VILLAGER, "waihong")
    with service.db.session() as session:
        villager = service._villager(session, VILLAGER)
        assert villager.id is not None
        session.add(
            Consultation(
                villager_id=villager.id,
                channel="telegram",
                raw_text="模糊的问题",
                decision="suggest",
                candidates=json.dumps([[first.id, 0.5], [second.id, 0.4]]),
                created_at=service.clock(),
            )
        )
    service.ask(VILLAGER, "重新问")
    outcome = service.ask(VILLAGER, "2")
    assert outcome.decision != "choice"
    assert not outcome.replies[0].text.startswith(second.answer)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("删除我的记录", texts.BUTTON_FORGET_YES), ("退订", None), ("帮助", texts.HELP[:10])],
)
def test_commands_typed_as_words_work_on_every_channel(
    service: ConsultationService, typed: str, expected: str | None
) -> None:
    web = Sender("web", "w-1", "w-1")
    service.start(web, "waihong")
    outcome = service.ask(web, typed)
    assert outcome.consultation_id is None, "a command is not a consultation"
    shown = outcome.replies[0].text + "".join(b.label for b in outcome.replies[0].flat_buttons())
    if expected is not None:
        assert expected in shown
    assert outcome.replies[0].text != texts.CLARIFY


@pytest.mark.parametrize("typed", ["好的晓得了", "哦哦 要得 多谢", "谢谢你啊"])
def test_runs_of_acknowledgements_get_the_closing(
    service: ConsultationService, typed: str
) -> None:
    service.start(VILLAGER, "waihong")
    assert service.ask(VILLAGER, typed).replies[0].text == texts.CLOSING


def test_a_rejection_with_words_after_a_list_goes_to_the_advisor(
    service: ConsultationService,
) -> None:
    first, second = service.kb.entries[0], service.kb.entries[1]
    service.start(VILLAGER, "waihong")
    with service.db.session() as session:
        villager = service._villager(session, VILLAGER)
        session.add(
            Consultation(
                villager_id=villager.id or 0, channel="telegram", raw_text="模糊的问题",
                decision="suggest", candidates=json.dumps([[first.id, 0.5], [second.id, 0.4]]),
                created_at=service.clock(),
            )
        )  # fmt: skip
    outcome = service.ask(VILLAGER, "不是 我问的不是这个")
    assert outcome.decision == "escalate"
    assert outcome.notices, "the advisor gets the card"


def test_a_fragment_sent_right_after_is_read_with_the_message_before(
    service: ConsultationService, clock: ManualClock
) -> None:
    alone = Sender("telegram", "3109", "3109")
    service.start(alone, "waihong")
    assert service.ask(alone, "现在他不还").decision == "clarify"
    service.start(VILLAGER, "waihong")
    assert service.ask(VILLAGER, "我借了三万块给我表哥").decision == "suggest"
    clock.advance(seconds=5)
    joined = service.ask(VILLAGER, "现在他不还")
    assert joined.decision != "clarify"
    with service.db.session() as session:
        row = session.get(Consultation, joined.consultation_id)
    assert row is not None
    assert row.raw_text == "现在他不还", "the message is stored as sent"
    assert "debt" in (row.candidates or ""), "matched together with the message before"


def test_a_question_of_its_own_inside_a_thread_gets_suggestions_and_reaches_the_advisor(
    service: ConsultationService,
) -> None:
    _escalate(service, VILLAGER)
    outcome = service.ask(VILLAGER, "借了三万给表哥 要得回来吗")  # a list, not an answer
    assert outcome.decision == "suggest"
    assert outcome.replies[-1].text == texts.THREAD_ALSO_SENT
    assert any("表哥" in n.reply.text for n in outcome.notices), (
        "the advisor sees it in the thread"
    )
