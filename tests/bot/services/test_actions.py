"""The button codec: every action a reply carries fits Telegram's 64 bytes and has a known kind."""

from __future__ import annotations

import pytest

from bot.services import actions
from bot.services.consultation import ConsultationService, Sender

VILLAGER = Sender("telegram", "3301", "3301")


def test_an_action_round_trips() -> None:
    action = actions.encode(actions.PICK, 12, 2)
    assert action == "pick:12:2"
    assert actions.decode(action) == ("pick", "12:2")


def test_an_action_over_64_bytes_is_refused() -> None:
    with pytest.raises(actions.ActionTooLong):
        actions.encode(actions.FAQ, "宅" * 30)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown action kind"):
        actions.encode("zz", 1)


def test_every_button_of_a_conversation_is_a_known_short_action(
    service: ConsultationService,
) -> None:
    outcomes = [
        service.start(VILLAGER),
        service.act(VILLAGER, actions.encode(actions.VILLAGE, "waihong")),
        service.ask(VILLAGER, "邻居盖房子占了我家宅基地怎么办"),
        service.ask(VILLAGER, "工钱"),
        service.ask(VILLAGER, "今天天气怎么样"),
        service.topics(VILLAGER),
        service.forget_prompt(VILLAGER),
    ]
    topic = service.kb.topics[0]
    outcomes.append(service.act(VILLAGER, actions.encode(actions.TOPIC, topic.key)))
    outcomes.append(service.act(VILLAGER, actions.encode(actions.FAQ, topic.entries[0].id)))
    buttons = [b for o in outcomes for r in o.replies for b in r.flat_buttons()]
    assert len(buttons) > 10
    for button in buttons:
        assert len(button.action.encode("utf-8")) <= actions.MAX_BYTES, button
        assert actions.decode(button.action)[0] in actions.KINDS, button
