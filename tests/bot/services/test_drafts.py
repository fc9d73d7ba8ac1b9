"""The learning loop: an advisor's answer becomes a draft; staff approve it and the bot learns it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from bot import texts
from bot.config import Config
from bot.services.consultation import ConsultationService
from bot.services.outcomes import Sender
from storage.clock import ManualClock as Clock
from storage.models import Consultation, DraftKind, FaqDraft
from tests.bot.services.test_escalations import VILLAGER, _escalate, _people
from tests.conftest import MORNING

NEW_QUESTION = "村里修路占了我家菜园子给不给补偿"
ANSWER = (
    "村里修路需要占用您承包或使用的菜地，应当依法和您协商并给予补偿。属于征收集体土地的，要依法"
    "支付土地补偿费、安置补助费以及地上附着物和青苗补偿费；只是村内道路调整用地的，应由村民会议"
    "讨论决定，并对您的损失给予合理补偿。协商不成可以找镇司法所调解，或向法院起诉。"
)


@pytest.fixture(name="staffed")
def staffed_fixture(
    service: ConsultationService, config: Config, tmp_path: Path
) -> ConsultationService:
    knowledge = config.knowledge.model_copy(update={"drafts_dir": str(tmp_path / "drafts")})
    service.config = config.model_copy(update={"knowledge": knowledge})
    service.drafts.config = service.config
    service.clock = Clock(MORNING)
    return service


def test_an_answer_becomes_a_draft_that_staff_approve_and_the_matcher_learns(
    staffed: ConsultationService, config: Config, tmp_path: Path
) -> None:
    service = staffed
    advisor, _, _ = _people(config)
    staff = Sender("telegram", str(config.staff.staff_ids[0]), str(config.staff.staff_ids[0]))
    _, escalation_id = _escalate(service)
    service.advisor_command(advisor, "reply", f"{escalation_id} {ANSWER}")
    service.act(advisor, f"ea:draft:{escalation_id}")
    with service.db.session() as session:
        draft = session.exec(select(FaqDraft)).one()
    assert draft.id is not None
    listed = service.staff_drafts(staff, "drafts")
    assert f"#{draft.id}" in listed.replies[0].text
    refused = service.staff_drafts(staff, "approve", str(draft.id))
    assert "还不能上线" in refused.replies[0].text or "主题" in refused.replies[0].text
    service.drafts.edit(
        draft.id,
        question=NEW_QUESTION,
        variants=[
            "修村道把我菜地占了有补偿吗",
            "村里铺水泥路占我家的自留地",
            "修路占地赔钱吗我家菜园没了",
            "村道拓宽占了菜地能要补偿不",
        ],
        answer=ANSWER,
        short="修路占您的地，应当协商并依法补偿。",
        basis=[{"law": "中华人民共和国土地管理法", "article": 48}],
        topic_key="land",
    )
    approved = service.staff_drafts(staff, "approve", str(draft.id))
    assert approved.replies[0].text.startswith(f"草稿 #{draft.id} 已上线")
    written = yaml.safe_load(
        (tmp_path / "drafts" / "faq" / "land.yaml").read_text(encoding="utf-8")
    )
    assert written["entries"][0]["question"] == NEW_QUESTION
    assert service.kb.entry(f"land-draft-{draft.id}") is not None
    result = service.matcher.match(NEW_QUESTION)
    assert result.decision == "answer"
    assert result.entry is not None
    assert result.entry.id == f"land-draft-{draft.id}"
    assert VILLAGER.user_id


def test_rejected_drafts_keep_their_reason_and_villagers_cannot_review(
    staffed: ConsultationService, config: Config
) -> None:
    service = staffed
    advisor, _, _ = _people(config)
    _, escalation_id = _escalate(service)
    service.advisor_command(advisor, "reply", f"{escalation_id} 个案情况，需要看合同。")
    service.act(advisor, f"ea:draft:{escalation_id}")
    staff = Sender("telegram", str(config.staff.staff_ids[0]), str(config.staff.staff_ids[0]))
    assert service.staff_drafts(VILLAGER, "drafts").replies[0].text == texts.STAFF_ONLY
    assert service.staff_drafts(staff, "reject", "1").replies[0].text == "请写明不采用的理由。"
    assert service.staff_drafts(staff, "reject", "1 个案，不适合做问答").replies[
        0
    ].text == texts.DRAFT_REJECTED.format(id=1)
    with service.db.session() as session:
        draft = session.exec(select(FaqDraft)).one()
    assert (draft.state, draft.reason) == ("rejected", "个案，不适合做问答")


def _confirming(service: ConsultationService, config: Config) -> None:
    from dataclasses import replace

    from bot.wiring import match_settings
    from knowledge.matcher import Matcher

    settings = replace(
        match_settings(config, semantic=False), tau_high=1.01, tau_confirm=0.0, tau_low=0.0
    )
    service.matcher = Matcher(service.kb, settings)


def test_a_rejected_check_and_a_picked_alternative_become_drafts_that_teach_the_matcher(
    staffed: ConsultationService, config: Config, tmp_path: Path
) -> None:
    service = staffed
    _confirming(service, config)
    staff = Sender("telegram", str(config.staff.staff_ids[0]), str(config.staff.staff_ids[0]))
    villager = Sender("telegram", "2701", "2701")
    service.start(villager, "waihong")
    wording = "隔壁起屋子把地基打到我家菜地里来了咋整"
    shown = service.ask(villager, wording)
    assert shown.decision == "confirm"
    with service.db.session() as session:
        first = session.get(Consultation, shown.consultation_id)
        assert first is not None
        shown_id = first.faq_id
    service.ask(villager, "不是这个")
    picked = service.ask(villager, "1")
    assert picked.decision == "choice"
    with service.db.session() as session:
        chosen = session.get(Consultation, picked.consultation_id)
        assert chosen is not None
        drafts = session.exec(select(FaqDraft).order_by(FaqDraft.id)).all()
    kinds = {(d.kind, d.entry_id, d.question) for d in drafts}
    assert ("not_for", shown_id, wording) in kinds
    assert ("variant", chosen.faq_id, wording) in kinds
    listed = service.staff_drafts(staff, "drafts").replies[0].text
    assert texts.DRAFT_KINDS["variant"] in listed
    variant = next(d for d in drafts if d.kind == "variant")
    approved = service.staff_drafts(staff, "approve", str(variant.id))
    assert approved.replies[0].text.startswith(f"草稿 #{variant.id} 已上线")
    stored = yaml.safe_load((tmp_path / "drafts" / "phrasings.yaml").read_text("utf-8"))
    assert stored[chosen.faq_id]["variant"] == [wording]
    entry = service.kb.entry(chosen.faq_id or "")
    assert entry is not None
    assert wording in entry.phrasings, "the running matcher knows the new phrasing"
    assert service.matcher.match(wording).candidates[0].entry.id == chosen.faq_id


def test_short_or_repeated_wordings_are_not_queued(
    staffed: ConsultationService, config: Config
) -> None:
    service = staffed
    entry = service.kb.entries[0]
    with service.db.session() as session:
        assert (
            service.drafts.propose_phrasing(
                session, kind=DraftKind.VARIANT, entry=entry, text="不是", consultation_id=None
            )
            is None
        )
        assert (
            service.drafts.propose_phrasing(
                session,
                kind=DraftKind.VARIANT,
                entry=entry,
                text=entry.question,
                consultation_id=None,
            )
            is None
        )
        first = service.drafts.propose_phrasing(
            session,
            kind=DraftKind.VARIANT,
            entry=entry,
            text="一句新的说法呢",
            consultation_id=None,
        )
        again = service.drafts.propose_phrasing(
            session,
            kind=DraftKind.VARIANT,
            entry=entry,
            text="一句新的说法呢",
            consultation_id=None,
        )
    assert first is not None
    assert again is None
