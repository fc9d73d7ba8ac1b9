"""Value objects passed between the service and the channel adapters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.services.replies import Reply

__all__ = ["Notice", "Outcome", "Sender", "held_notices"]


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sent a message: channel, the user's id there, and the chat to answer in."""

    channel: str
    user_id: str
    chat_id: str | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """A message for someone other than the sender (an advisor, the office, a villager).

    `escalation_id` marks an advisor card: the adapter records the sent message's id so that a
    Telegram reply to it finds the escalation, and reports a blocked advisor for failover.
    `turn_id` marks an advisor's answer to a villager: the adapter reports it delivered.
    """

    user_id: str
    reply: Reply
    channel: str = "telegram"
    escalation_id: int | None = None
    turn_id: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to send back: replies to the sender, notices to others, and the stored record."""

    replies: tuple[Reply, ...] = ()
    notices: tuple[Notice, ...] = ()
    consultation_id: int | None = None
    decision: str | None = None
    duplicate: bool = False
    held_for: Sender | None = None  # a held message answered later: whom the replies go to


def held_notices(outcomes: Sequence[Outcome]) -> tuple[Notice, ...]:
    """The replies of released held messages, addressed to their senders, and their notices."""
    notices: list[Notice] = []
    for outcome in outcomes:
        who = outcome.held_for
        if who is None:
            continue
        chat = who.chat_id or who.user_id
        notices += [Notice(chat, reply, channel=who.channel) for reply in outcome.replies]
        notices += outcome.notices
    return tuple(notices)
