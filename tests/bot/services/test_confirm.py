"""Answer with a check: 「我理解您问的是…」, the answer, and two alternatives a villager can pick."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlmodel import select

from bot import texts
from bot.config import Config
from bot.services.consultation import ConsultationService
from bot.services.outcomes import Sender
from bot.wiring import match_settings
from knowledge.matcher import Matcher
from storage.models import Consultation, Escalation

VILLAGER = Sender("telegram", "3201", "3201")
QUESTION = "邻居盖房子占了我家宅基地怎么办"


@pytest.fixture(name="confirming")
def confirming_fixture(service: ConsultationService, config: Config) -> ConsultationService:
    """The service with a matcher whose every matched question falls in the confirm band."""
    settings = replace(
        match_settings(config, semantic=False), tau_high=1.01, tau_confirm=0.0, tau_low=0.0
    )
    service.matcher = Matcher(service.kb, settings)
    service.start(VILLAGER, "waihong")
    return service


def _row(service: ConsultationService, cid: int | None) -> Consultation:
    assert cid is not None
    with service.db.session() as session:
        row = session.get(Consultation, cid)
    assert row is not None
    return row


def test_confirm_shows_what_was_understood_the_answer_and_two_alternatives(
    confirming: ConsultationService,
) -> None:
    outcome = confirming.ask(VILLAGER, QUESTION)
    assert outcome.decision == "confirm"
    row = _row(confirming, outcome.consultation_id)
    entry = confirming.kb.entry(row.faq_id or "")
    assert entry is not None
    reply = outcome.replies[0]
    assert reply.text.startswith(texts.CONFIRM_INTRO.format(question=entry.question))
    assert entry.answer in reply.text
    assert texts.CONFIRM_NOT_THIS in reply.text
    actions = [b.action for b in reply.flat_buttons()]
    cid = outcome.consultation_id
    assert f"pick:{cid}:1" in actions
    assert f"pick:{cid}:2" in actions
    assert f"adv:{cid}" in actions
    assert f"fb:{cid}:y" in actions


def test_typing_not_this_after_a_confirm_lists_the_alternatives(
    confirming: ConsultationService,
) -> None:
    first = confirming.ask(VILLAGER, QUESTION)
    shown = _row(confirming, first.consultation_id)
    outcome = confirming.ask(VILLAGER, "不是这个")
    assert outcome.decision == "suggest"
    reply = outcome.replies[0]
    assert reply.text.startswith(texts.NOT_THIS_ALTERNATIVES)
    listed = _row(confirming, outcome.consultation_id)
    assert listed.raw_text == "不是这个"
    assert shown.faq_id not in (listed.candidates or "")
    # Then typing 1 answers the first alternative.
    picked = confirming.ask(VILLAGER, "1")
    assert picked.decision == "choice"
    alternative = _row(confirming, picked.consultation_id)
    assert alternative.faq_id != shown.faq_id


def test_not_this_after_a_list_goes_to_the_advisor(confirming: ConsultationService) -> None:
    confirming.ask(VILLAGER, QUESTION)
    confirming.ask(VILLAGER, "不是")
    outcome = confirming.ask(VILLAGER, "都不是")
    assert outcome.decision == "escalate"
    assert outcome.notices
    with confirming.db.session() as session:
        escalation = session.exec(select(Escalation)).one()
    assert escalation.consultation_id is not None


def test_a_typed_number_after_a_confirm_picks_an_alternative(
    confirming: ConsultationService,
) -> None:
    first = confirming.ask(VILLAGER, QUESTION)
    shown = _row(confirming, first.consultation_id)
    outcome = confirming.ask(VILLAGER, "2")
    assert outcome.decision == "choice"
    second = _row(confirming, outcome.consultation_id)
    assert second.faq_id not in (None, shown.faq_id)


def test_not_this_without_a_shown_answer_is_an_ordinary_message(
    service: ConsultationService,
) -> None:
    service.start(VILLAGER, "waihong")
    outcome = service.ask(VILLAGER, "不是")
    assert outcome.decision == "clarify"
    assert outcome.replies[0].text == texts.CLARIFY


def test_a_confirm_is_redelivered_the_same_way(confirming: ConsultationService) -> None:
    first = confirming.ask(VILLAGER, QUESTION, update_key="u-1")
    again = confirming.ask(VILLAGER, QUESTION, update_key="u-1")
    assert again.replies[0].text == first.replies[0].text
