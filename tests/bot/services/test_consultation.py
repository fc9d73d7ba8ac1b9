"""The consultation service with the real matcher and a real database (no Telegram)."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import select

from bot import texts
from bot.services.consultation import ConsultationService, Sender
from knowledge.models import KnowledgeBase
from storage.clock import ManualClock
from storage.models import Consultation, Escalation, Feedback, Villager

ALICE = Sender(channel="telegram", user_id="1001", chat_id="1001")
BOB = Sender(channel="telegram", user_id="1002", chat_id="1002")


def _rows(service: ConsultationService) -> list[Consultation]:
    with service.db.session() as session:
        return list(session.exec(select(Consultation).order_by(Consultation.id)).all())


def _escalations(service: ConsultationService) -> list[Escalation]:
    with service.db.session() as session:
        return list(session.exec(select(Escalation)).all())


def test_start_greets_explains_privacy_and_asks_for_the_village(
    service: ConsultationService,
) -> None:
    outcome = service.start(ALICE)
    assert "110" in outcome.replies[0].text
    assert "/forget" in outcome.replies[0].text
    villages = [b.label for b in outcome.replies[-1].flat_buttons()]
    assert "外洪村" in villages
    assert "西山林场" in villages


def test_a_deep_link_binds_the_village_without_asking(service: ConsultationService) -> None:
    outcome = service.start(ALICE, "caoxi")
    assert "曹溪村" in outcome.replies[-1].text
    with service.db.session() as session:
        villager = session.exec(select(Villager)).one()
        assert villager.village_code == "caoxi"
        assert villager.consent_at is not None


def test_a_canonical_question_is_answered_with_basis_and_logged(
    service: ConsultationService, kb: KnowledgeBase
) -> None:
    service.start(ALICE, "waihong")
    entry = kb.entries[0]
    outcome = service.ask(ALICE, entry.question, update_key="tg:1")
    assert outcome.decision == "answer"
    reply = outcome.replies[0]
    assert reply.text.startswith(entry.answer)
    assert "依据：《" in reply.text
    actions = [b.action for b in reply.flat_buttons()]
    assert f"fb:{outcome.consultation_id}:y" in actions
    assert f"law:{outcome.consultation_id}" in actions
    row = _rows(service)[-1]
    assert (row.decision, row.faq_id, row.village_code, row.channel) == (
        "answer",
        entry.id,
        "waihong",
        "telegram",
    )
    assert row.latency_ms is not None


def test_the_same_update_is_recorded_once(service: ConsultationService, kb: KnowledgeBase) -> None:
    first = service.ask(ALICE, kb.entries[0].question, update_key="tg:77")
    service.mark_replied("tg:77")
    again = service.ask(ALICE, kb.entries[0].question, update_key="tg:77")
    assert not first.duplicate
    assert again.duplicate
    assert again.replies == ()
    assert len(_rows(service)) == 1


def test_a_message_without_content_asks_for_more_detail(service: ConsultationService) -> None:
    outcome = service.ask(ALICE, "请问怎么办？")
    assert outcome.decision == "clarify"
    assert outcome.replies[0].text == texts.CLARIFY


def test_urgent_messages_get_emergency_numbers_first_and_are_escalated(
    service: ConsultationService, kb: KnowledgeBase
) -> None:
    service.start(ALICE, "neihong")
    category = kb.triage[0]
    outcome = service.ask(ALICE, f"救命 {category.triggers[0]}")
    assert outcome.decision == "urgent"
    text = outcome.replies[0].text
    assert text.startswith(texts.URGENT_HEAD)
    assert any(number in text for number in category.numbers)
    escalation = _escalations(service)[0]
    assert escalation.urgent
    assert escalation.village_code == "neihong"


def test_an_urgent_question_with_a_faq_answer_gets_numbers_first_then_the_answer(
    service: ConsultationService, kb: KnowledgeBase
) -> None:
    from knowledge.triage import detect_risk

    entry = next(e for e in kb.entries if detect_risk(e.question, kb.triage) is not None)
    outcome = service.ask(ALICE, entry.question)
    assert outcome.decision == "urgent"
    assert outcome.replies[0].text.startswith(texts.URGENT_HEAD)
    assert outcome.replies[-1].text.startswith(entry.answer)
    assert _rows(service)[-1].faq_id == entry.id


def test_escalation_without_a_village_asks_for_it_then_routes_to_its_advisor(
    service: ConsultationService, config
) -> None:  # type: ignore[no-untyped-def]
    service.ask(BOB, "请问怎么办？")  # creates the villager without a village
    outcome = service.ask(BOB, "这个问题很特别")
    if outcome.decision != "escalate":
        choice = [b for b in outcome.replies[0].flat_buttons() if b.action.startswith("adv:")]
        outcome = service.act(BOB, choice[0].action)
    assert outcome.replies[0].text == texts.ESCALATED_NO_VILLAGE
    assert _escalations(service) == []
    done = service.act(BOB, "v:mashan")
    mashan = config.village("mashan")
    assert mashan.advisor_name in done.replies[-1].text
    escalation = _escalations(service)[0]
    assert escalation.advisor_id == str(mashan.advisor_id)
    assert escalation.state == "open"


def test_feedback_and_its_reason_are_stored(
    service: ConsultationService, kb: KnowledgeBase
) -> None:
    answered = service.ask(ALICE, kb.entries[1].question)
    cid = answered.consultation_id
    asked = service.act(ALICE, f"fb:{cid}:n")
    assert asked.replies[0].text == texts.ASK_REASON
    service.act(ALICE, f"fr:{cid}:wrong")
    with service.db.session() as session:
        feedback = session.exec(select(Feedback)).one()
        assert (feedback.consultation_id, feedback.helpful, feedback.reason) == (
            cid,
            False,
            "wrong",
        )


def test_someone_elses_or_forged_buttons_are_refused(
    service: ConsultationService, kb: KnowledgeBase
) -> None:
    answered = service.ask(ALICE, kb.entries[0].question)
    for action in (
        f"fb:{answered.consultation_id}:y",
        "fb:abc:y",
        "pick:999:0",
        "nonsense",
        "law:",
    ):
        outcome = service.act(BOB, action)
        assert outcome.replies[0].text == texts.CHOICE_EXPIRED
    with service.db.session() as session:
        assert session.exec(select(Feedback)).all() == []


def test_suggestions_can_be_chosen_by_typing_a_number(
    service: ConsultationService, kb: KnowledgeBase
) -> None:
    first, second = kb.entries[0], kb.entries[1]
    with service.db.session() as session:
        villager = service._villager(session, ALICE)
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
    outcome = service.ask(ALICE, "２")
    assert outcome.decision == "choice"
    assert outcome.replies[0].text.startswith(second.answer)
    assert _rows(service)[-1].faq_id == second.id


def test_elder_mode_shows_the_short_answer_with_a_more_button(
    service: ConsultationService, kb: KnowledgeBase
) -> None:
    entry = next(e for e in kb.entries if e.short)
    service.toggle_elder(ALICE)
    outcome = service.ask(ALICE, entry.question)
    assert outcome.replies[0].text.startswith(entry.short)
    more = outcome.replies[0].flat_buttons()[0]
    assert more.label == texts.BUTTON_MORE
    assert service.act(ALICE, more.action).replies[0].text.startswith(entry.answer)


def test_too_many_messages_get_one_slow_down_note_and_nothing_is_lost(
    service: ConsultationService,
) -> None:
    limit = service.config.conversation.max_messages_per_minute
    outcomes = [service.ask(ALICE, f"怎么办{i}") for i in range(limit + 3)]
    slow = [o for o in outcomes if o.replies and o.replies[0].text == texts.SLOW_DOWN]
    assert len(slow) == 1
    assert len(_rows(service)) == limit + 3


def test_twenty_messages_at_once_are_all_answered_in_order_as_the_pace_allows(
    service: ConsultationService, clock: ManualClock
) -> None:
    limit = service.config.conversation.max_messages_per_minute
    entries = [e for t in service.kb.topics for e in t.entries][:20]
    first = [service.ask(ALICE, e.question) for e in entries]
    held = [o for o in first if o.decision == "throttled"]
    assert len(held) == 20 - limit
    assert service.release_held() == [], "nothing is released inside the same minute"
    answered = [o for o in first if o.decision != "throttled"]
    for _ in range(5):
        clock.advance(seconds=61)
        answered += service.release_held()
    assert len(answered) == 20
    assert all(o.replies for o in answered), "every message gets an answer"
    later = [o for o in answered if o.held_for is not None]
    assert [o.held_for for o in later] == [ALICE] * len(held)
    with service.db.session() as session:
        rows = {c.id: c for c in session.exec(select(Consultation)).all()}
    # In the order sent: the i-th answer is to the i-th message.
    texts_answered = [rows[o.consultation_id].raw_text for o in answered if o.consultation_id]
    assert texts_answered == [e.question for e in entries]
    assert sum(1 for c in rows.values() if c.decision == "released") == len(held)


def test_other_input_kinds_are_logged_with_a_friendly_reply(service: ConsultationService) -> None:
    outcome = service.unsupported(ALICE, "voice", update_key="tg:v1")
    assert "12348" in outcome.replies[0].text
    assert _rows(service)[-1].kind == "voice"


def test_forget_anonymises_and_mydata_reports(
    service: ConsultationService, kb: KnowledgeBase
) -> None:
    service.start(ALICE, "caoxi")
    service.ask(ALICE, kb.entries[0].question)
    assert "曹溪村" in service.my_data(ALICE).replies[0].text
    assert service.act(ALICE, "forget:n").replies[0].text == texts.FORGET_CANCELLED
    service.act(ALICE, "forget:y")
    rows = _rows(service)
    assert rows
    assert all(r.raw_text == "（已删除）" for r in rows)


def test_topics_list_then_a_topic_lists_its_questions(
    service: ConsultationService, kb: KnowledgeBase
) -> None:
    topics = service.topics(ALICE).replies[0].flat_buttons()
    assert len(topics) == len(kb.topics)
    listed = service.act(ALICE, topics[0].action).replies[0].flat_buttons()
    assert listed
    assert service.act(ALICE, listed[0].action).decision == "choice"


def test_old_suggestions_expire_for_typed_numbers(
    service: ConsultationService, kb: KnowledgeBase
) -> None:
    with service.db.session() as session:
        villager = service._villager(session, ALICE)
        assert villager.id is not None
        session.add(
            Consultation(
                villager_id=villager.id,
                channel="telegram",
                raw_text="x",
                decision="suggest",
                candidates=json.dumps([[kb.entries[0].id, 0.5]]),
                created_at=service.clock() - timedelta(days=1),
            )
        )
    assert service.ask(ALICE, "1").decision != "choice"
