"""Advisor escalation through the service: routing, answers both ways, SLA and failover."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from bot import texts
from bot.config import Config
from bot.services.consultation import ConsultationService
from bot.services.outcomes import Outcome, Sender
from knowledge.matcher import Matcher
from storage.clock import ManualClock as Clock
from storage.models import Escalation, EscalationEvent, FaqDraft, Feedback

ROOT = Path(__file__).resolve().parents[3]
VILLAGER = Sender("telegram", "2001", "2001")
CONSOLE_VILLAGER = Sender("console", "c-1", "c-1")


def _people(config: Config, code: str = "waihong") -> tuple[Sender, Sender, Sender]:
    village = config.village(code)
    assert village is not None
    advisor, backup = str(village.advisor_id), str(village.backup_advisor_id)
    office = str(config.justice_office.telegram_ids[0])
    return (
        Sender("telegram", advisor, advisor),
        Sender("telegram", backup, backup),
        Sender("telegram", office, office),
    )


def _escalate(
    service: ConsultationService, sender: Sender = VILLAGER, village: str = "waihong"
) -> tuple[Outcome, int]:
    service.start(sender, village)
    asked = service.ask(sender, service.kb.entries[3].question)
    outcome = service.act(sender, f"adv:{asked.consultation_id}")
    with service.db.session() as session:
        escalation = session.exec(select(Escalation).order_by(Escalation.id.desc())).first()  # type: ignore[union-attr]
        assert escalation is not None
        assert escalation.id is not None
        return outcome, escalation.id


def _escalation(service: ConsultationService, escalation_id: int) -> Escalation:
    with service.db.session() as session:
        escalation = session.get(Escalation, escalation_id)
        assert escalation is not None
        return escalation


def test_an_unmatched_question_reaches_the_village_advisor_with_a_card(
    service: ConsultationService, matcher: Matcher, config: Config, clock: Clock
) -> None:
    out_of_scope = yaml.safe_load(
        (ROOT / "knowledge/eval/out_of_scope.yaml").read_text(encoding="utf-8")
    )
    question = next(
        item["q"] for item in out_of_scope if matcher.match(item["q"]).decision == "escalate"
    )
    advisor, _, _ = _people(config, "hengqiao")
    service.start(VILLAGER, "hengqiao")
    outcome = service.ask(VILLAGER, question)
    assert outcome.decision == "escalate"
    assert "横桥村" in outcome.replies[0].text
    [card] = outcome.notices
    assert card.user_id == advisor.user_id
    assert card.escalation_id is not None
    assert question[:20] in card.reply.text
    assert "村民" in card.reply.text
    actions = [b.action for b in card.reply.flat_buttons()]
    assert [a.split(":")[1] for a in actions] == ["claim", "reply", "call", "office", "draft"]


def test_the_advisor_answer_reaches_the_villager_signed_and_can_be_rated(
    service: ConsultationService, config: Config, clock: Clock
) -> None:
    advisor, _, _ = _people(config)
    _, escalation_id = _escalate(service)
    clock.advance(hours=2)
    done = service.advisor_command(advisor, "reply", f"{escalation_id} 请带上欠条到村委会找我。")
    assert done.replies[0].text == texts.REPLY_SENT.format(id=escalation_id)
    [answer] = done.notices
    assert answer.user_id == VILLAGER.chat_id
    assert "外洪村法律顾问" in answer.reply.text
    assert "请带上欠条" in answer.reply.text
    escalation = _escalation(service, escalation_id)
    assert escalation.state == "answered"
    assert escalation.first_response_at is not None
    good = next(b for b in answer.reply.flat_buttons() if b.label == texts.BUTTON_ADVISOR_GOOD)
    service.act(VILLAGER, good.action)
    with service.db.session() as session:
        assert session.exec(select(Feedback).where(Feedback.target == "advisor")).one().helpful


def test_follow_ups_route_both_ways_until_the_villager_starts_a_new_question(
    service: ConsultationService, config: Config, clock: Clock
) -> None:
    advisor, _, _ = _people(config)
    _, escalation_id = _escalate(service)
    service.advisor_command(advisor, "reply", f"{escalation_id} 欠条上写了还款日期吗？")
    follow = service.ask(VILLAGER, "写了，去年年底就该还")
    assert follow.decision is None or follow.replies[0].text == texts.FOLLOW_UP_SENT
    assert follow.notices[0].user_id == advisor.user_id
    assert "去年年底" in follow.notices[0].reply.text
    second = service.advisor_command(
        advisor, "reply", f"{escalation_id} 那可以先发催款短信留证据。"
    )
    assert "催款" in second.notices[0].reply.text
    new = next(b for b in follow.replies[0].flat_buttons() if b.label == texts.BUTTON_NEW_QUESTION)
    assert service.act(VILLAGER, new.action).replies[0].text == texts.NEW_QUESTION
    fresh = service.ask(VILLAGER, service.kb.entries[0].question)
    assert fresh.decision in ("answer", "urgent")


def test_two_advisors_racing_to_claim_one_wins_and_the_other_is_told(
    service: ConsultationService, config: Config, clock: Clock
) -> None:
    advisor, backup, _ = _people(config)
    _, escalation_id = _escalate(service)
    first = service.act(advisor, f"ea:claim:{escalation_id}")
    second = service.act(backup, f"ea:claim:{escalation_id}")
    assert first.replies[0].text == texts.CLAIMED.format(id=escalation_id)
    assert "已被" in second.replies[0].text
    with service.db.session() as session:
        events = session.exec(
            select(EscalationEvent).where(EscalationEvent.escalation_id == escalation_id)
        ).all()
    assert [e.to_state for e in events].count("claimed") == 1


def test_reminder_then_backup_then_justice_office_each_once(
    service: ConsultationService, config: Config, clock: Clock
) -> None:
    advisor, backup, office = _people(config)
    _, escalation_id = _escalate(service)
    assert service.escalations.sweep() == []
    clock.advance(hours=12, minutes=1)
    [reminder] = service.escalations.sweep()
    assert reminder.user_id == advisor.user_id
    assert "提醒" in reminder.reply.text
    assert service.escalations.sweep() == []
    clock.advance(hours=12)
    notices = service.escalations.sweep()
    assert {n.user_id for n in notices} == {backup.user_id, advisor.user_id}
    assert _escalation(service, escalation_id).advisor_id == backup.user_id
    assert service.escalations.sweep() == []
    clock.advance(hours=24)
    notices = service.escalations.sweep()
    assert office.user_id in {n.user_id for n in notices}
    assert _escalation(service, escalation_id).level == 2
    assert service.escalations.sweep() == []


def test_a_restart_between_escalation_and_reminder_sends_the_reminder_once(
    service: ConsultationService, config: Config, clock: Clock
) -> None:
    _escalate(service)
    restarted = ConsultationService.create(config, service.kb, service.matcher, service.db)
    restarted.clock = clock
    clock.advance(hours=13)
    first = restarted.escalations.sweep()
    again = ConsultationService.create(config, service.kb, service.matcher, service.db)
    again.clock = clock
    assert len(first) == 1
    assert again.escalations.sweep() == []


def test_quiet_hours_hold_the_card_until_morning_but_not_urgent_cases(
    service: ConsultationService, config: Config, clock: Clock
) -> None:
    clock.now = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)  # 23:30 local
    outcome, escalation_id = _escalate(service)
    assert outcome.notices == ()
    clock.advance(hours=2)
    assert service.escalations.sweep() == []
    clock.now = datetime(2026, 11, 20, 23, 5, tzinfo=UTC)  # 07:05 local
    [card] = service.escalations.sweep()
    assert card.escalation_id == escalation_id
    clock.now = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)
    category = service.kb.triage[0]
    urgent = service.ask(VILLAGER, category.triggers[0])
    _, _, office = _people(config)
    assert office.user_id in {n.user_id for n in urgent.notices}


def test_unknown_users_are_refused_advisor_commands_and_logged(
    service: ConsultationService, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        for command in ("queue", "mine", "done", "stats_me", "reply"):
            assert (
                service.advisor_command(VILLAGER, command, "1 x").replies[0].text
                == texts.ADVISOR_ONLY
            )
        assert service.act(VILLAGER, "ea:claim:1").replies[0].text == texts.ADVISOR_ONLY
    assert "tried advisor command" in caplog.text


def test_an_advisor_of_another_village_cannot_answer(
    service: ConsultationService, config: Config, clock: Clock
) -> None:
    _, escalation_id = _escalate(service, village="waihong")
    other, _, _ = _people(config, "shaofan")
    assert (
        service.advisor_command(other, "reply", f"{escalation_id} 乱答").replies[0].text
        == texts.NOT_YOURS
    )


def test_needs_call_asks_consent_and_passes_the_phone_only_after_it(
    service: ConsultationService, config: Config, clock: Clock
) -> None:
    advisor, _, _ = _people(config)
    _, escalation_id = _escalate(service)
    asked = service.act(advisor, f"ea:call:{escalation_id}")
    [consent] = asked.notices
    assert consent.user_id == VILLAGER.chat_id
    yes = next(b for b in consent.reply.flat_buttons() if b.action.endswith(":y"))
    assert service.act(VILLAGER, yes.action).replies[0].request_contact
    shared = service.share_phone(VILLAGER, "13912345678")
    assert shared.notices[0].user_id == advisor.user_id
    assert "13912345678" in shared.notices[0].reply.text


def test_transfer_to_office_and_draft_from_the_answer(
    service: ConsultationService, config: Config, clock: Clock
) -> None:
    advisor, _, office = _people(config)
    _, escalation_id = _escalate(service)
    assert (
        service.act(advisor, f"ea:draft:{escalation_id}").replies[0].text
        == texts.DRAFT_NEEDS_ANSWER
    )
    service.advisor_command(
        advisor, "reply", f"{escalation_id} 这种情况可以申请法律援助，带身份证到镇司法所。"
    )
    assert "草稿" in service.act(advisor, f"ea:draft:{escalation_id}").replies[0].text
    moved = service.act(advisor, f"ea:office:{escalation_id}")
    assert office.user_id in {n.user_id for n in moved.notices}
    with service.db.session() as session:
        draft = session.exec(select(FaqDraft)).one()
    assert "法律援助" in draft.answer
    assert draft.state == "draft"


def test_the_console_villager_sees_the_advisor_answer_in_the_inbox(
    service: ConsultationService, config: Config, clock: Clock
) -> None:
    advisor, _, _ = _people(config)
    _, escalation_id = _escalate(service, CONSOLE_VILLAGER)
    done = service.advisor_command(advisor, "reply", f"{escalation_id} 明天上午来村委会。")
    assert done.notices[0].channel == "console"
    inbox = service.inbox(CONSOLE_VILLAGER)
    assert "明天上午来村委会" in inbox.replies[0].text
    assert service.inbox(CONSOLE_VILLAGER).replies == ()


def test_a_reply_to_a_card_whose_message_id_was_not_recorded_still_finds_it(
    service: ConsultationService, config: Config, clock: Clock
) -> None:
    advisor, _, _ = _people(config)
    outcome, escalation_id = _escalate(service)
    [card] = outcome.notices
    answered = service.advisor_reply_to_card(
        advisor, advisor.user_id, 424242, "我下午打电话给您。", card.reply.text
    )
    assert answered is not None
    assert answered.replies[0].text == texts.REPLY_SENT.format(id=escalation_id)
    assert (
        service.advisor_reply_to_card(advisor, advisor.user_id, 424243, "随便说说", "这不是卡片")
        is None
    )


def test_the_town_overview_lists_every_pending_escalation(service: ConsultationService) -> None:
    _, first = _escalate(service, VILLAGER, "waihong")
    _, second = _escalate(service, Sender("telegram", "2002", "2002"), "fanghu")
    text = service.escalations.overview().replies[0].text
    assert text.startswith(texts.OVERVIEW_HEAD.format(count=2))
    assert f"#{first}" in text or f"{first}" in text
    assert f"{second}" in text


def test_an_escalation_in_a_known_topic_says_where_such_matters_go(
    service: ConsultationService, config: Config
) -> None:
    from dataclasses import replace

    from bot.wiring import match_settings
    from knowledge.matcher import Matcher

    # Bands above any score: every question escalates, a clear one still names its topic.
    settings = replace(
        match_settings(config, semantic=False), tau_high=1.0, tau_confirm=1.0, tau_low=1.0
    )
    service.matcher = Matcher(service.kb, settings)
    service.start(VILLAGER, "waihong")
    entry = next(e for e in service.kb.entries if e.id == "labour-wage-arrears-complaint")
    outcome = service.ask(VILLAGER, entry.question)
    assert outcome.decision == "escalate"
    labour = next(t for t in service.kb.topics if t.key == "labour")
    assert texts.GUIDANCE.format(guidance=labour.guidance) in outcome.replies[0].text
    other = Sender("telegram", "2009", "2009")
    service.start(other, "waihong")
    unrelated = service.ask(other, "红烧肉怎么做好吃")
    assert unrelated.decision == "escalate"
    assert texts.GUIDANCE.split("{")[0] not in unrelated.replies[0].text


def test_an_unclaimed_urgent_case_alerts_office_and_staff_once_day_or_night(
    service: ConsultationService, config: Config, clock: Clock
) -> None:
    clock.now = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)  # 01:00 local, quiet hours
    service.start(VILLAGER, "waihong")
    urgent = service.ask(VILLAGER, "救命 有人拿刀在我家门口砍人")
    assert urgent.decision == "urgent"
    clock.advance(minutes=config.sla.urgent_minutes - 1)
    assert service.escalations.sweep() == []
    clock.advance(minutes=2)
    alarm = service.escalations.sweep()
    staff = {str(i) for i in (*config.staff.staff_ids, *config.staff.admin_ids)}
    office = {str(i) for i in config.justice_office.telegram_ids}
    assert {n.user_id for n in alarm} == staff | office
    assert all("还没有人认领" in n.reply.text for n in alarm)
    assert service.escalations.sweep() == []  # once


def test_a_claimed_urgent_case_raises_no_alarm(
    service: ConsultationService, config: Config, clock: Clock
) -> None:
    advisor, _, _ = _people(config)
    service.start(VILLAGER, "waihong")
    service.ask(VILLAGER, "救命 有人拿刀在我家门口砍人")
    with service.db.session() as session:
        escalation = session.exec(select(Escalation)).one()
    service.escalations.claim(advisor, escalation.id or 0)
    clock.advance(minutes=config.sla.urgent_minutes + 5)
    assert service.escalations.sweep() == []


def test_on_a_channel_without_contact_buttons_the_villager_types_the_number(
    service: ConsultationService, config: Config, clock: Clock
) -> None:
    web = Sender("web", "w-9", "w-9")
    advisor, _, _ = _people(config)
    _, escalation_id = _escalate(service, web)
    [consent] = service.act(advisor, f"ea:call:{escalation_id}").notices
    yes = next(b for b in consent.reply.flat_buttons() if b.action.endswith(":y"))
    assert service.act(web, yes.action).replies[0].text == texts.TYPE_PHONE
    shared = service.ask(web, "我的电话是 139-1234-5678")
    assert shared.notices[0].user_id == advisor.user_id
    assert "13912345678" in shared.notices[0].reply.text
    from storage.models import Consultation

    with service.db.session() as session:
        stored = session.exec(select(Consultation).order_by(Consultation.id.desc())).first()  # type: ignore[union-attr]
    assert stored is not None
    assert "13912345678" not in stored.raw_text, "the message itself is stored masked"
