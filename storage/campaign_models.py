"""SQLModel tables of publicity pushes: runs, per-villager deliveries, button clicks.

A run is one push of one campaign on one scheduled date (or one ad-hoc /broadcast); a delivery
is one (run, villager) pair, unique, written before the message is sent and marked after.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.clock import utcnow

__all__ = ["CampaignClick", "CampaignDelivery", "CampaignRun", "DeliveryState", "RunState"]


class RunState(StrEnum):
    """Life cycle of a push run."""

    RUNNING = "running"  # deliveries written; sending (or interrupted, resumed on start)
    DONE = "done"
    MISSED = "missed"  # the bot was down longer than the grace period
    CANCELLED = "cancelled"


class DeliveryState(StrEnum):
    """State of one (run, villager) delivery; all but PENDING and SENDING are final."""

    PENDING = "pending"
    SENDING = "sending"  # claimed; a crash here leaves it ambiguous and it is never re-sent
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"  # Forbidden: the villager blocked the bot (now unsubscribed)
    DEACTIVATED = "deactivated"  # chat not found / user deactivated (villager inactive)
    SKIPPED = "skipped"  # unsubscribed or inactive by send time, or the run was cancelled


FINAL_DELIVERY_STATES = frozenset(
    {
        DeliveryState.SENT,
        DeliveryState.FAILED,
        DeliveryState.BLOCKED,
        DeliveryState.DEACTIVATED,
        DeliveryState.SKIPPED,
    }
)


class CampaignRun(SQLModel, table=True):
    """One push of a campaign on a scheduled date (or one ad-hoc broadcast)."""

    __tablename__ = "campaign_run"
    __table_args__ = (
        UniqueConstraint("campaign", "push_key", "scheduled_for", name="uq_campaign_run"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign: str = Field(max_length=48, index=True)
    push_key: str = Field(max_length=96)
    scheduled_for: date
    message_id: str | None = Field(default=None, max_length=96)
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    villages: str = Field(default="", max_length=512)  # comma-separated codes; empty: all
    due_at: datetime
    state: str = Field(default=RunState.RUNNING, max_length=16, index=True)
    targeted: int = 0
    actor: str = Field(default="schedule", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class CampaignDelivery(SQLModel, table=True):
    """One villager's copy of one push run."""

    __tablename__ = "campaign_delivery"
    __table_args__ = (UniqueConstraint("run_id", "villager_id", name="uq_campaign_delivery"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="campaign_run.id", index=True)
    villager_id: int = Field(foreign_key="villager.id", index=True)
    chat_id: str = Field(max_length=64)
    state: str = Field(default=DeliveryState.PENDING, max_length=16, index=True)
    attempts: int = 0
    error: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    updated_at: datetime | None = None


class CampaignClick(SQLModel, table=True):
    """A villager pressed 👍有用 (useful) or 退订 (unsubscribe) under a push."""

    __tablename__ = "campaign_click"
    __table_args__ = (UniqueConstraint("delivery_id", "kind", name="uq_campaign_click"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="campaign_delivery.id", index=True)
    kind: str = Field(max_length=16)  # useful | unsubscribe
    at: datetime = Field(default_factory=utcnow)
