"""Button actions: the one codec for what a button sends back to the service.

An action is `kind:arg:arg…`; Telegram carries it as `callback_data`, which holds at most 64
bytes, so `encode` refuses anything longer. The kinds below are the only prefixes in use (the
campaign buttons' `cf`/`cu`/`bc` are the campaign service's own, see `bot.services.campaigns`).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ADVISOR",
    "ADVISOR_CARD",
    "ELDER",
    "FAQ",
    "FEEDBACK",
    "FEEDBACK_REASON",
    "FORGET",
    "KINDS",
    "LAW",
    "MAX_BYTES",
    "MORE",
    "PICK",
    "THREAD",
    "TOPIC",
    "VILLAGE",
    "ActionTooLong",
    "decode",
    "encode",
]

MAX_BYTES: Final = 64

VILLAGE: Final = "v"  # v:<village code>
FEEDBACK: Final = "fb"  # fb:<consultation>:y|n
FEEDBACK_REASON: Final = "fr"  # fr:<consultation>:<reason key>
PICK: Final = "pick"  # pick:<consultation>:<candidate index>
ADVISOR: Final = "adv"  # adv:<consultation>  (pass to the village advisor)
MORE: Final = "more"  # more:<consultation>  (the full answer in elder mode)
LAW: Final = "law"  # law:<consultation>  (the cited articles' text)
TOPIC: Final = "topic"  # topic:<topic key>
FAQ: Final = "faq"  # faq:<entry id>
ELDER: Final = "elder"  # elder:on
FORGET: Final = "forget"  # forget:y|n
THREAD: Final = "ev"  # ev:new|fb|phone:<escalation>[:y|n]  (the villager's side of a thread)
ADVISOR_CARD: Final = "ea"  # ea:claim|reply|call|office|draft:<escalation>
KINDS: Final = frozenset(
    {VILLAGE, FEEDBACK, FEEDBACK_REASON, PICK, ADVISOR, MORE, LAW, TOPIC, FAQ, ELDER, FORGET,
     THREAD, ADVISOR_CARD}
)  # fmt: skip


class ActionTooLong(ValueError):
    """An action would not fit in a Telegram button (64 bytes of callback_data)."""


def encode(kind: str, *args: object) -> str:
    """Join a kind and its arguments into one action; refuse unknown kinds and long actions."""
    if kind not in KINDS:
        raise ValueError(f"unknown action kind {kind!r}")
    action = ":".join((kind, *map(str, args)))
    if len(action.encode("utf-8")) > MAX_BYTES:
        raise ActionTooLong(f"{action[:24]}… is over {MAX_BYTES} bytes")
    return action


def decode(action: str) -> tuple[str, str]:
    """Split an action into its kind and the rest (the handler parses its own arguments)."""
    kind, _, rest = action.partition(":")
    return kind, rest
