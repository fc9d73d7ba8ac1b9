"""Redelivered updates: recorded and answered → nothing; recorded, not answered → the reply again.

See `bot.channels.telegram.reliability` and docs/reliability.md for Telegram's offset semantics.
"""

from __future__ import annotations

import json
from pathlib import Path

from bot import texts
from bot.config import Config
from bot.ops.telegram_emulator import Emulator
from bot.services.consultation import ConsultationService, Sender
from knowledge.models import KnowledgeBase
from tests.reliability.conftest import RBot, rows, start_bot, stop_bot

ALICE = Sender(channel="telegram", user_id="5101", chat_id="5101")
USER = 5101


def _question(kb: KnowledgeBase, decision: str, service: ConsultationService) -> str:
    for entry in kb.entries:
        if service.matcher.match(entry.question).decision == decision:
            return entry.question
    raise AssertionError(decision)


def test_an_unanswered_update_gets_the_same_reply_again(
    service: ConsultationService, kb: KnowledgeBase
) -> None:
    service.start(ALICE, "waihong")
    cases = [
        kb.entries[0].question,  # answer
        "请问怎么办？",  # clarify
        "",  # empty
        "我老公天天打我，今天又打了",  # urgent (domestic violence)
        "村口那棵树上的鸟窝归谁管啊火星文",  # likely escalate
    ]
    for i, text in enumerate(cases):
        key = f"tg:{900 + i}"
        first = service.ask(ALICE, text, update_key=key)
        again = service.ask(ALICE, text, update_key=key)
        assert not again.duplicate, text
        assert again.replies == first.replies, text
        assert again.consultation_id == first.consultation_id
        service.mark_replied(key)
        assert service.ask(ALICE, text, update_key=key).duplicate
    assert len(rows(service)) == len(cases)


def test_suggestions_and_unsupported_are_rerendered(
    service: ConsultationService, kb: KnowledgeBase
) -> None:
    service.start(ALICE, "waihong")
    text = _question(kb, "suggest", service) if False else None
    for entry in kb.entries:
        outcome = service.ask(ALICE, entry.question[:6], update_key=f"tg:s{entry.id}"[:60])
        if outcome.decision == "suggest":
            text = entry.question[:6]
            again = service.ask(ALICE, text, update_key=f"tg:s{entry.id}"[:60])
            assert again.replies == outcome.replies
            break
    assert text is not None, "no suggestion found"
    first = service.unsupported(ALICE, "voice", update_key="tg:v1")
    assert service.unsupported(ALICE, "voice", update_key="tg:v1").replies == first.replies


def test_an_escalation_card_never_delivered_is_sent_again(
    service: ConsultationService,
) -> None:
    service.start(ALICE, "waihong")
    first = service.ask(ALICE, "我老公天天打我，今天又打了", update_key="tg:1")
    assert first.notices
    again = service.ask(ALICE, "我老公天天打我，今天又打了", update_key="tg:1")
    assert [n.user_id for n in again.notices] == [n.user_id for n in first.notices]
    assert first.notices[0].escalation_id is not None
    service.escalations.record_card(first.notices[0].escalation_id, "100000101", 42)
    third = service.ask(ALICE, "我老公天天打我，今天又打了", update_key="tg:1")
    assert third.notices == ()


async def test_redelivered_updates_through_the_application(rbot: RBot, kb: KnowledgeBase) -> None:
    em = rbot.emulator
    # 1. answered once, then redelivered (offset never confirmed): nothing more is sent
    uid = em.send_text(USER, kb.entries[0].question)
    await em.wait_for(lambda: len(em.texts_to(USER)) == 1)
    await em.wait_for(lambda: all(r.replied_at for r in rows(rbot.service)))
    assert em.redeliver(uid)
    await em.wait_for(lambda: em.confirmed_offset > uid)
    # 2. recorded before a crash, never answered: the redelivery answers it, once
    next_id = uid + 1
    recorded = rbot.service.ask(
        Sender("telegram", str(USER), str(USER)),
        kb.entries[1].question,
        update_key=f"tg:{next_id}",
    )
    assert em.send_text(USER, kb.entries[1].question) == next_id
    await em.wait_for(lambda: len(em.texts_to(USER)) == 2)
    assert em.texts_to(USER)[1] == recorded.replies[0].text
    await em.wait_for(lambda: all(r.replied_at for r in rows(rbot.service)))
    assert em.redeliver(next_id)
    em.send_text(USER, "/help")
    await em.wait_for(lambda: len(em.texts_to(USER)) == 3)
    assert em.texts_to(USER)[2] == texts.HELP
    assert len(rows(rbot.service)) == 2
    assert not rbot.errors


async def test_a_journaled_update_is_replayed_after_a_restart(
    emulator: Emulator,
    config: Config,
    service: ConsultationService,
    kb: KnowledgeBase,
    tmp_path: Path,
) -> None:
    """An update confirmed to Telegram but never handled (killed) is handled at the next start."""
    journal = tmp_path / "journal"
    journal.mkdir()
    update = {
        "update_id": 4242,
        "message": emulator.message(USER, kb.entries[2].question),
    }
    handled = {"update_id": 4241, "message": emulator.message(USER, kb.entries[3].question)}
    (journal / "journal.log").write_text(
        f'+{json.dumps(handled)}\n+{json.dumps(update)}\n-4241\n+{{"update_id": 4243, "mes',
        encoding="utf-8",
    )  # 4241 handled, 4242 confirmed but never handled, 4243 cut short by the kill
    harness = await start_bot(emulator, config, service, journal)
    try:
        await emulator.wait_for(lambda: len(emulator.texts_to(USER)) == 1)
        await emulator.wait_for(lambda: not harness.journal.entries)
        [row] = rows(service)
        assert row.update_key == "tg:4242"
        assert row.replied_at is not None
    finally:
        await stop_bot(harness)


async def test_the_journal_is_empty_once_updates_are_handled(
    rbot: RBot, kb: KnowledgeBase
) -> None:
    for i in range(20):
        rbot.emulator.send_text(USER + i, kb.entries[i].question)
    await rbot.emulator.wait_for(lambda: len(rbot.emulator.sent()) >= 20)
    await rbot.emulator.wait_for(lambda: not rbot.journal.entries)
    assert not rbot.journal.in_flight
