"""Privacy done fully: numbers are masked when stored, and /forget leaves no clear text anywhere."""

from __future__ import annotations

from sqlalchemy import inspect, text

from bot import texts
from bot.services import actions
from bot.services.consultation import ConsultationService, Sender
from storage.models import Escalation
from tests.bot.services.test_escalations import _escalate, _people

VILLAGER = Sender("telegram", "2401", "2401")
PHONE = "13907931234"
ID_CARD = "36112719800101123X"
STORY = f"我叫王二，电话{PHONE}，身份证{ID_CARD}，老板欠了我三个月工钱"


def _all_text(service: ConsultationService) -> str:
    """Every text and string column of every table, joined."""
    engine = service.db.engine
    found: list[str] = []
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                found += [str(v) for v in row if isinstance(v, str)]
    return "\n".join(found)


def test_numbers_a_villager_types_are_stored_masked(service: ConsultationService) -> None:
    service.start(VILLAGER, "waihong")
    service.ask(VILLAGER, STORY)
    stored = _all_text(service)
    assert PHONE not in stored
    assert ID_CARD not in stored
    assert "老板欠了我三个月工钱" in stored


def test_forget_leaves_no_clear_text_and_closes_the_open_escalation(
    service: ConsultationService,
) -> None:
    _, escalation_id = _escalate(service, VILLAGER)
    advisor, _, _ = _people(service.config)
    service.ask(VILLAGER, STORY)  # a follow-up inside the thread
    service.advisor_command(advisor, "reply", f"{escalation_id} 王二您好，请带上欠条来村委会")
    before = _all_text(service)
    assert "王二您好" in before
    service.forget_prompt(VILLAGER)
    outcome = service.act(VILLAGER, actions.encode(actions.FORGET, "y"))
    assert outcome.replies[0].text.startswith(texts.FORGOTTEN.split("{")[0])
    after = _all_text(service)
    for secret in (PHONE, ID_CARD, "老板欠了我三个月工钱", "王二您好", "王二"):
        assert secret not in after, secret
    with service.db.session() as session:
        escalation = session.get(Escalation, escalation_id)
    assert escalation is not None
    assert escalation.state == "closed"
    assert any(n.user_id == advisor.user_id for n in outcome.notices), "the advisor is told"
