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
from storage.models import FaqDraft
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
