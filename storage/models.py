"""SQLModel tables. Times are aware UTC (see `storage.clock`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.clock import utcnow

__all__ = [
    "Consultation",
    "Decision",
    "DraftKind",
    "Escalation",
    "EscalationEvent",
    "EscalationMessage",
    "EscalationState",
    "EscalationTurn",
    "FaqDraft",
    "Feedback",
    "Villager",
]


class Decision(StrEnum):
    """What the bot did with a message."""

    ANSWER = "answer"
    CONFIRM = "confirm"  # answered with a check: 「我理解您问的是…」 and two alternatives
    SUGGEST = "suggest"
    ESCALATE = "escalate"
    CLARIFY = "clarify"
    URGENT = "urgent"  # risk triage: emergency numbers, escalated at once
    UNSUPPORTED = "unsupported"  # voice, photo, sticker...: asked to type instead
    CHOICE = "choice"  # the villager picked a suggestion or a browsed question
    FOLLOW_UP = "follow_up"  # a message inside an open escalation, routed to the advisor
    THROTTLED = "throttled"  # over the per-minute pace: stored, held until the pace allows
    RELEASED = "released"  # a held message, since answered (its answer is a newer consultation)


class DraftKind(StrEnum):
    """What a staff-review draft proposes."""

    ENTRY = "entry"
    VARIANT = "variant"
    NOT_FOR = "not_for"


class EscalationState(StrEnum):
    """Life cycle of an escalation."""

    OPEN = "open"
    CLAIMED = "claimed"
    ANSWERED = "answered"
    CLOSED = "closed"
    REASSIGNED = "reassigned"


class Villager(SQLModel, table=True):
    """Someone who talks to the bot on one channel."""

    __table_args__ = (
        UniqueConstraint("channel", "channel_user_id", name="uq_villager_channel_user"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    channel_user_id: str = Field(max_length=64)
    chat_id: str | None = Field(default=None, max_length=64)
    label: str = Field(default="", max_length=32)  # pseudonym shown to advisors
    village_code: str | None = Field(default=None, max_length=32, index=True)
    role: str = Field(default="villager", max_length=16)
    subscribed: bool = True
    elder_mode: bool = False
    active: bool = True  # False once the chat is gone (blocked, deleted)
    consent_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    forgotten_at: datetime | None = None
    phone: str | None = Field(default=None, max_length=32)  # only when the villager shared it
    phone_consent_at: datetime | None = None


class Consultation(SQLModel, table=True):
    """One message a villager sent and what the bot did with it."""

    # the report's question aggregates: decision IN (...) and a created_at range, index-only
    __table_args__ = (
        Index(
            "ix_consultation_question",
            *("decision", "created_at", "villager_id", "village_code", "topic_key", "channel"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    villager_id: int = Field(foreign_key="villager.id", index=True)
    channel: str = Field(max_length=16)
    village_code: str | None = Field(default=None, max_length=32, index=True)
    kind: str = Field(default="text", max_length=16)
    raw_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    normalized_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    decision: str = Field(max_length=16, index=True)
    faq_id: str | None = Field(default=None, max_length=96)
    topic_key: str | None = Field(default=None, max_length=48, index=True)
    score: float | None = None
    # the matcher's best guesses as JSON [[faq_id, score], ...]: suggestions and advisor cards
    candidates: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    latency_ms: float | None = None
    urgent: bool = False
    update_key: str | None = Field(default=None, max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    # when the reply to the update was handed to the channel (None: recorded, not yet answered;
    # a redelivered update then gets the reply re-rendered, see docs/reliability.md)
    replied_at: datetime | None = None


class Escalation(SQLModel, table=True):
    """A question handed to the village's legal advisor."""

    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(foreign_key="consultation.id", index=True)
    villager_id: int = Field(foreign_key="villager.id", index=True)
    village_code: str | None = Field(default=None, max_length=32, index=True)
    advisor_id: str | None = Field(default=None, max_length=64, index=True)
    state: str = Field(default=EscalationState.OPEN, max_length=16, index=True)
    reason: str = Field(default="unmatched", max_length=16)
    urgent: bool = False
    created_at: datetime = Field(default_factory=utcnow, index=True)
    claimed_at: datetime | None = None
    first_response_at: datetime | None = None
    closed_at: datetime | None = None
    # failover: 0 the village advisor, 1 the backup advisor, 2 the justice office
    level: int = 0
    assigned_at: datetime = Field(default_factory=utcnow)  # when the current assignee got it
    reminded_at: datetime | None = None  # reminder of the current assignee already sent
    notified_at: datetime | None = None  # card delivered to the current assignee (quiet hours)
    needs_call: bool = False
    thread_open: bool = True  # the villager's next messages go to the advisor


class EscalationEvent(SQLModel, table=True):
    """One transition of an escalation, with time and actor, for response-time reporting."""

    id: int | None = Field(default=None, primary_key=True)
    escalation_id: int = Field(foreign_key="escalation.id", index=True)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str = Field(max_length=16)
    actor: str = Field(default="system", max_length=64)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    at: datetime = Field(default_factory=utcnow)


class Feedback(SQLModel, table=True):
    """A villager's 👍/👎 on an answer, with an optional reason."""

    __table_args__ = (UniqueConstraint("consultation_id", "target", name="uq_feedback_target"),)

    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(foreign_key="consultation.id", index=True)
    villager_id: int = Field(foreign_key="villager.id", index=True)
    target: str = Field(default="faq", max_length=16)  # faq | advisor
    helpful: bool
    reason: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class EscalationTurn(SQLModel, table=True):
    """One message of the exchange between villager and advisor inside an escalation."""

    id: int | None = Field(default=None, primary_key=True)
    escalation_id: int = Field(foreign_key="escalation.id", index=True)
    author: str = Field(max_length=16)  # villager | advisor
    actor: str = Field(default="", max_length=64)
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None  # when the other side received it


class EscalationMessage(SQLModel, table=True):
    """A message the bot sent to an advisor about an escalation (so a reply to it finds it)."""

    __table_args__ = (UniqueConstraint("chat_id", "message_id", name="uq_escalation_message"),)

    id: int | None = Field(default=None, primary_key=True)
    escalation_id: int = Field(foreign_key="escalation.id", index=True)
    chat_id: str = Field(max_length=64)
    message_id: int
    created_at: datetime = Field(default_factory=utcnow)


class FaqDraft(SQLModel, table=True):
    """A draft FAQ entry made from an advisor's answer; not live until staff approve it."""

    id: int | None = Field(default=None, primary_key=True)
    escalation_id: int | None = Field(default=None, foreign_key="escalation.id", index=True)
    question: str = Field(sa_column=Column(Text, nullable=False))
    answer: str = Field(sa_column=Column(Text, nullable=False))
    short: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    variants: str = Field(
        default="[]", sa_column=Column(Text, nullable=False, default="[]")
    )  # JSON
    basis: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))  # JSON
    next_steps: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    topic_key: str | None = Field(default=None, max_length=48)
    author: str = Field(default="", max_length=64)
    state: str = Field(default="draft", max_length=16, index=True)  # draft | approved | rejected
    # entry: a new FAQ entry (from an advisor's answer); variant / not_for: a villager's wording
    # learnt from use, to add to entry `entry_id` as a phrasing or as a question it does not answer
    kind: str = Field(default=DraftKind.ENTRY, max_length=16, index=True)
    consultation_id: int | None = None  # the consultation the wording came from
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    entry_id: str | None = Field(default=None, max_length=96)
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    decided_by: str | None = Field(default=None, max_length=64)


import storage.api_models  # noqa: E402  (registers the HTTP API tables on the metadata)
import storage.console_models  # noqa: E402  (the web console's accounts and audit log)
import storage.record_models  # noqa: E402, F401  (offline work records and the dispute register)
