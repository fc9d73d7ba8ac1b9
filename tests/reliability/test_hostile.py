"""Hostile input over the whole conversation, through the service and through the Application.

Random text (control characters, 10,000-character messages), commands with odd arguments,
unknown commands, forged callback data, callback data from another user, replies to other
people's cards. Nothing may escape as an unhandled error, and every input gets a reply or is
ignored by design.
"""

from __future__ import annotations

import itertools
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.channels.telegram.app import VILLAGER_COMMANDS
from bot.channels.telegram.handlers import ADVISOR_COMMANDS, DRAFT_COMMANDS
from bot.services.consultation import ConsultationService, Outcome, Sender
from tests.reliability.conftest import RBot

CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.sampled_from(
    ["\u200b", "\u202e", "\ufeff", "\x7f", "\ud7ff", "\U0001f4a9", "\u0000"]
)
TEXT = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=CONTROL, max_size=50),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=5000, max_size=10_000),
    st.sampled_from(["", " ", "\n\n", "1", "0", "99", "-1", "１", "⑤", "13800138000"]),
    st.just("欠钱不还怎么办" * 1500),  # 10,500 characters
)
COMMAND_NAMES = st.sampled_from(
    [
        *sorted(set(VILLAGER_COMMANDS) | set(ADVISOR_COMMANDS) | set(DRAFT_COMMANDS)),
        "stats",
        "gaps",
        "ledger",
        "broadcast",
        "nosuch",
        "START",
        "reply@other_bot",
        "x" * 60,
    ]
)
ARGS = st.one_of(
    st.just(""),
    st.text(max_size=40),
    st.sampled_from(["0", "-1", "99999999999999999999", "1 ", "1 " + "答" * 5000, "%s", "{x}"]),
)
PREFIXES = st.sampled_from(
    [
        "v",
        "fb",
        "fr",
        "pick",
        "adv",
        "more",
        "law",
        "topic",
        "faq",
        "elder",
        "forget",
        "ev",
        "ea",
        "bc",
        "cf",
        "cu",
        "",
        "zz",
    ]
)
DATA = st.one_of(
    st.builds(lambda p, a: f"{p}:{a}"[:64], PREFIXES, st.text(max_size=30)),
    st.builds(
        lambda p, a, b: f"{p}:{a}:{b}",
        PREFIXES,
        st.integers(-5, 10**12),
        st.sampled_from(["y", "n", "0", "", "x", "claim", "reply"]),
    ),
    st.text(max_size=64),
)
INPUT = st.one_of(
    st.tuples(st.just("text"), TEXT),
    st.tuples(st.just("command"), st.builds(lambda c, a: f"/{c} {a}", COMMAND_NAMES, ARGS)),
    st.tuples(st.just("press"), DATA),
    st.tuples(st.just("reply_card"), TEXT),
    st.tuples(st.just("sticker"), st.just("")),
    st.tuples(st.just("edit"), TEXT),
)

_users = itertools.count(700_000)


def _service_step(service: ConsultationService, sender: Sender, kind: str, value: str) -> Outcome:
    if kind == "text":
        return service.ask(sender, value, update_key=f"tg:h{next(_users)}")
    if kind == "command":
        name, _, arg = value[1:].partition(" ")
        if name in ADVISOR_COMMANDS:
            return service.advisor_command(sender, name, arg)
        if name in DRAFT_COMMANDS:
            return service.staff_drafts(sender, name, arg)
        if name == "start":
            return service.start(sender, arg)
        return service.unknown_command(sender)
    if kind == "press":
        return service.act(sender, value)
    if kind == "reply_card":
        answered = service.advisor_reply_to_card(sender, sender.user_id, 1, value)
        return answered if answered is not None else service.ask(sender, value)
    return service.unsupported(sender, "sticker", caption=value)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(INPUT, min_size=1, max_size=6), advisor=st.booleans())
def test_the_service_answers_anything(
    service: ConsultationService, steps: list[tuple[str, str]], advisor: bool
) -> None:
    user = "100000102" if advisor else str(next(_users))
    sender = Sender("telegram", user, user)
    for kind, value in steps:
        outcome = _service_step(service, sender, kind, value)
        assert isinstance(outcome, Outcome)
        if outcome.decision != "throttled":
            assert outcome.replies, (kind, value[:80])
        for reply in outcome.replies:
            assert reply.text.strip()


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(INPUT, min_size=5, max_size=25))
async def test_the_application_answers_anything(
    rbot: RBot, batch: list[tuple[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    em = rbot.emulator
    card = {"message_id": 1, "date": 0, "chat": {"id": 100000101, "type": "private"}}
    expect: dict[int, str] = {}
    last = 0
    with caplog.at_level(logging.WARNING):
        for kind, value in batch:
            user = next(_users)
            if kind == "text":
                last = em.send_text(user, value or " ")
            elif kind == "command":
                last = em.send_text(user, value)
            elif kind == "press":
                last = em.press(user, value)
            elif kind == "reply_card":
                last = em.reply_to(user, card, value or "?")
            elif kind == "sticker":
                last = em.push(
                    "message",
                    em.message(
                        user,
                        sticker={
                            "file_id": "s",
                            "file_unique_id": "s",
                            "width": 1,
                            "height": 1,
                            "is_animated": False,
                            "is_video": False,
                            "type": "regular",
                        },
                    ),
                )
            else:
                last = em.edit_text(user, 1, value or " ")
            expect[user] = kind
        await em.wait_for(lambda: em.confirmed_offset > last, within=30)
        await em.wait_for(lambda: not rbot.journal.in_flight, within=30)
    assert not rbot.errors, rbot.errors
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    answered_queries = len(em.sent("answerCallbackQuery"))
    for user, kind in expect.items():
        if kind == "press":
            continue
        assert em.texts_to(user), (kind, "no reply")
    assert answered_queries >= sum(1 for k in expect.values() if k == "press")
