"""Access control: every command and callback of the app, as a villager and as another village's
advisor. The lists come from `application.handlers`, so a new command is covered automatically."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from bot.channels.telegram.app import VILLAGER_COMMANDS
from bot.channels.telegram.handlers import ADVISOR_COMMANDS
from bot.config import Config
from bot.ops.telegram_emulator import Emulator
from bot.services.consultation import ConsultationService, Sender
from storage.models import Consultation, Escalation, EscalationTurn, FaqDraft
from tests.reliability.apps import callback_patterns, commands
from tests.reliability.conftest import RBot, start_bot, stop_bot

VICTIM = 5201  # a villager of 外洪村 (waihong) with an escalated question
SECRET = "我家的宅基地证号是HX-77731，隔壁王五占了我两米地怎么办"
INTRUDER = 5301  # another villager of the same village
OTHER_ADVISOR = 100000102  # advisor of 邵畈村 (shaofan), not of waihong
OWN_ADVISOR = 100000101


def _refusals() -> set[str]:
    """Every refusal text (…STAFF_ONLY, …ADVISOR_ONLY, NOT_YOURS) wherever it is defined."""
    import importlib

    found: set[str] = set()
    for name in ("bot.texts", "bot.services.report", "bot.campaign_texts"):
        try:
            module = importlib.import_module(name)
        except ImportError:  # pragma: no cover
            continue
        for attr, value in vars(module).items():
            if isinstance(value, str) and attr.endswith(
                ("STAFF_ONLY", "ADVISOR_ONLY", "NOT_YOURS")
            ):
                found.add(value)
    return found


REFUSALS = _refusals()
# Arguments that point at the victim's records (escalation 1, consultation 1, draft 1, run 1).
ARGS = {
    "done": "1",
    "reply": "1 你的地我来处理",
    "approve": "1",
    "reject": "1 不要",
    "cancel": "1",
}
# One forged callback per action prefix of the service and of the registered handlers; a new
# prefix without an example here fails the test (add the example, then look at its guard).
FORGED = {
    "ea": ["ea:claim:1", "ea:reply:1", "ea:call:1", "ea:office:1", "ea:draft:1"],
    "ev": ["ev:new:1", "ev:fb:1:n", "ev:phone:1:y"],
    "fb": ["fb:1:n"],
    "fr": ["fr:1:wrong"],
    "pick": ["pick:1:0"],
    "adv": ["adv:1"],
    "more": ["more:1"],
    "law": ["law:1"],
    "bc": ["bc:y:1", "bc:x:1"],
    "cf": ["cf:1"],
    "cu": ["cu:1"],
}
PUBLIC_ACTIONS = {"v", "topic", "faq", "elder", "forget"}  # act on the presser's own data only


def _snapshot(service: ConsultationService) -> tuple[object, ...]:
    with service.db.session() as session:
        escalations = [
            (e.id, e.state, e.advisor_id, e.level, e.thread_open, e.needs_call)
            for e in session.exec(select(Escalation)).all()
        ]
        turns = len(session.exec(select(EscalationTurn)).all())
        drafts = [(d.id, d.state) for d in session.exec(select(FaqDraft)).all()]
        victim_rows = [
            (c.id, c.decision, c.raw_text)
            for c in session.exec(select(Consultation).where(Consultation.villager_id == 1)).all()
        ]
    return escalations, turns, drafts, victim_rows


@pytest.fixture(name="abot")
async def abot_fixture(
    emulator: Emulator, config: Config, service: ConsultationService, tmp_path: Path
) -> RBot:
    harness = await start_bot(emulator, config, service, tmp_path / "journal")
    victim = Sender("telegram", str(VICTIM), str(VICTIM))
    service.start(victim, "waihong")
    outcome = service.ask(victim, SECRET)
    assert outcome.decision in ("escalate", "suggest", "answer", "confirm", "clarify")
    if outcome.decision != "escalate":
        assert outcome.consultation_id is not None
        service.act(victim, f"adv:{outcome.consultation_id}")
    with service.db.session() as session:
        assert session.exec(select(Escalation)).one().advisor_id == str(OWN_ADVISOR)
        session.add(FaqDraft(escalation_id=1, question=SECRET, answer="草稿答复"))
    yield harness  # type: ignore[misc]
    await stop_bot(harness)


async def _answers(bot: RBot, user: int, push: int) -> list[str]:
    """What the bot said to `user` after update `push`: messages and callback alerts."""
    if push:
        await bot.emulator.wait_for(lambda: bot.emulator.confirmed_offset > push)
    await bot.emulator.wait_for(lambda: not bot.journal.in_flight)
    said = [str(p.get("text", "")) for p in bot.emulator.sent("sendMessage", user)]
    alerts = [
        str(p.get("text", "")) for p in bot.emulator.sent("answerCallbackQuery") if p.get("text")
    ]
    return said + alerts


def test_every_registered_command_is_classified(abot: RBot) -> None:
    registered = commands(abot.application)
    assert set(VILLAGER_COMMANDS) <= registered
    assert set(ADVISOR_COMMANDS) <= registered
    assert {"stats", "gaps", "ledger", "drafts", "approve", "reject"} <= registered
    patterns = callback_patterns(abot.application)
    assert None in patterns  # the service's catch-all


@pytest.mark.parametrize("who", [INTRUDER, OTHER_ADVISOR])
async def test_advisor_and_staff_commands_are_refused(abot: RBot, who: int) -> None:
    before = _snapshot(abot.service)
    privileged = sorted(commands(abot.application) - set(VILLAGER_COMMANDS))
    assert privileged
    for name in privileged:
        if who == OTHER_ADVISOR and name in ("queue", "mine", "stats_me"):
            continue  # an advisor's own lists: checked below to hold nothing of the victim
        seen = len(await _answers(abot, who, 0))
        uid = abot.emulator.send_text(who, f"/{name} {ARGS.get(name, '')}".strip())
        said = (await _answers(abot, who, uid))[seen:]
        assert said, f"/{name}: no answer"
        assert said[0] in REFUSALS, f"/{name} as {who}: {said[0][:80]}"
        assert all(SECRET[:8] not in s for s in said), f"/{name} leaked the question"
    if who == OTHER_ADVISOR:
        for name in ("queue", "mine", "stats_me"):
            uid = abot.emulator.send_text(who, f"/{name}")
            said = await _answers(abot, who, uid)
            assert all(SECRET[:8] not in s and "#1" not in s for s in said), name
    assert not abot.emulator.sent("sendDocument")
    assert _snapshot(abot.service) == before
    assert not abot.errors


@pytest.mark.parametrize("who", [INTRUDER, OTHER_ADVISOR])
async def test_forged_callbacks_cannot_read_or_answer_an_escalation(abot: RBot, who: int) -> None:
    service_prefixes = set(abot.service._actions()) | {"ea"}
    handler_prefixes = {
        p.lstrip("^").split(":")[0].replace("c[fu]", "cf")
        for p in callback_patterns(abot.application)
        if p is not None
    }
    prefixes = (service_prefixes | handler_prefixes) - PUBLIC_ACTIONS
    missing = prefixes - set(FORGED)
    assert not missing, f"add forged examples for new callback prefixes: {missing}"
    before = _snapshot(abot.service)
    for prefix in sorted(prefixes):
        for data in FORGED[prefix]:
            uid = abot.emulator.press(who, data)
            said = await _answers(abot, who, uid)
            assert all(SECRET[:8] not in s for s in said), data
            assert _snapshot(abot.service) == before, data
    # the own advisor still can: the guard is about the person, not a broken button
    uid = abot.emulator.press(OWN_ADVISOR, "ea:claim:1")
    await _answers(abot, OWN_ADVISOR, uid)
    assert _snapshot(abot.service) != before
    assert not abot.errors


async def test_a_reply_to_someone_elses_card_is_not_an_answer(abot: RBot) -> None:
    card = {"message_id": 999, "date": 0, "chat": {"id": OTHER_ADVISOR, "type": "private"}}
    abot.service.escalations.record_card(1, str(OWN_ADVISOR), 999)
    before = _snapshot(abot.service)
    uid = abot.emulator.reply_to(OTHER_ADVISOR, card, "我替你答了")
    await _answers(abot, OTHER_ADVISOR, uid)
    escalations, turns, drafts, _ = _snapshot(abot.service)
    assert (escalations, turns, drafts) == before[:3]
    assert not abot.emulator.texts_to(VICTIM)
