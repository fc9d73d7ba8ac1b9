"""Repository functions of publicity pushes: keyword-only, typed, no business rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Final

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.campaign_models import (
    CampaignClick,
    CampaignDelivery,
    CampaignRun,
    DeliveryState,
    RunState,
)
from storage.models import Consultation, Villager

__all__ = [
    "PUSH_CHANNELS",
    "audience",
    "claim_delivery",
    "click_counts",
    "create_deliveries",
    "delivery_counts",
    "finish_delivery",
    "get_or_create_run",
    "get_run",
    "interrupt_sending",
    "latest_push",
    "pending_deliveries",
    "recent_runs",
    "record_click",
    "running_runs",
    "skip_if_ineligible",
    "skip_pending",
]


# Channels a push can reach: Telegram chats and WeChat followers (customer-service or template
# messages). Web-chat, HTTP-API and console users have no push address: their clients fetch.
PUSH_CHANNELS: Final = ("telegram", "wechat")


def get_run(
    *, session: Session, campaign: str, push_key: str, scheduled_for: date
) -> CampaignRun | None:
    """Return the run of a push on a date, or None."""
    statement = select(CampaignRun).where(
        CampaignRun.campaign == campaign,
        CampaignRun.push_key == push_key,
        CampaignRun.scheduled_for == scheduled_for,
    )
    return session.exec(statement).first()


def get_or_create_run(*, session: Session, run: CampaignRun) -> tuple[CampaignRun, bool]:
    """Insert the run unless one exists for its (campaign, push, date); race-safe."""

    def lookup() -> CampaignRun | None:
        return get_run(
            session=session,
            campaign=run.campaign,
            push_key=run.push_key,
            scheduled_for=run.scheduled_for,
        )

    existing = lookup()
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():
            session.add(run)
        return run, True
    except IntegrityError:
        found = lookup()
        assert found is not None
        return found, False


def audience(
    *,
    session: Session,
    villages: Sequence[str] | None,
    channels: Sequence[str] = PUSH_CHANNELS,
) -> list[tuple[int, str]]:
    """Return (villager id, chat id) of subscribed, active villagers on these channels (and of
    these villages; None: all), whatever their channel."""
    statement = select(Villager.id, Villager.chat_id).where(
        col(Villager.channel).in_(list(channels)),
        col(Villager.subscribed).is_(True),
        col(Villager.active).is_(True),
        col(Villager.chat_id).is_not(None),
        col(Villager.forgotten_at).is_(None),
    )
    if villages is not None:
        statement = statement.where(col(Villager.village_code).in_(list(villages)))
    rows = session.exec(statement.order_by(col(Villager.id))).all()
    return [(int(v), str(c)) for v, c in rows if v is not None and c is not None]


def create_deliveries(
    *, session: Session, run_id: int, targets: Sequence[tuple[int, str]], now: datetime
) -> int:
    """Write a pending delivery for each target not yet in the run; return how many were new."""
    known = set(
        session.exec(
            select(CampaignDelivery.villager_id).where(CampaignDelivery.run_id == run_id)
        ).all()
    )
    fresh = [
        CampaignDelivery(run_id=run_id, villager_id=v, chat_id=c, created_at=now)
        for v, c in targets
        if v not in known
    ]
    session.add_all(fresh)
    session.flush()
    return len(fresh)


def pending_deliveries(*, session: Session, run_id: int) -> list[tuple[int, str, str]]:
    """Return (id, chat id, channel) of the run's deliveries still to send, in order.

    A delivery's channel is its villager's (a villager row is one person on one channel).
    """
    statement = (
        select(CampaignDelivery.id, CampaignDelivery.chat_id, Villager.channel)
        .join(Villager, col(Villager.id) == col(CampaignDelivery.villager_id))
        .where(CampaignDelivery.run_id == run_id, CampaignDelivery.state == DeliveryState.PENDING)
        .order_by(col(CampaignDelivery.id))
    )
    return [
        (int(i), str(c), str(ch)) for i, c, ch in session.exec(statement).all() if i is not None
    ]


def latest_push(
    *,
    session: Session,
    channel: str,
    channel_user_id: str,
    since: datetime,
    after: datetime | None = None,
) -> int | None:
    """Return the id of the villager's newest push sent at or after `since` (and strictly after
    `after`), unless they have written since it was sent (their numbers then answer that newer
    message); else None."""
    villager = session.exec(
        select(Villager.id).where(
            Villager.channel == channel, Villager.channel_user_id == channel_user_id
        )
    ).first()
    if villager is None:
        return None
    found = session.exec(
        select(CampaignDelivery.id, CampaignDelivery.sent_at)
        .where(
            CampaignDelivery.villager_id == villager,
            CampaignDelivery.state == DeliveryState.SENT,
            col(CampaignDelivery.sent_at) >= since,
            *([col(CampaignDelivery.sent_at) > after] if after is not None else []),
        )
        .order_by(col(CampaignDelivery.sent_at).desc(), col(CampaignDelivery.id).desc())
        .limit(1)
    ).first()
    if found is None or found[0] is None or found[1] is None:
        return None
    delivery_id, sent_at = found
    later = session.exec(
        select(Consultation.id)
        .where(Consultation.villager_id == villager, col(Consultation.created_at) > sent_at)
        .limit(1)
    ).first()
    return None if later is not None else int(delivery_id)


def claim_delivery(*, session: Session, delivery_id: int, run_id: int, now: datetime) -> bool:
    """Move a pending delivery to SENDING when its run is running and its villager still
    subscribed and active (one conditional UPDATE: one claimer wins); return whether it did."""
    running = select(CampaignRun.id).where(
        CampaignRun.id == run_id, CampaignRun.state == RunState.RUNNING
    )
    eligible = select(Villager.id).where(
        col(Villager.subscribed).is_(True), col(Villager.active).is_(True)
    )
    result = session.execute(
        update(CampaignDelivery)
        .where(
            col(CampaignDelivery.id) == delivery_id,
            col(CampaignDelivery.state) == DeliveryState.PENDING,
            col(CampaignDelivery.run_id).in_(running.scalar_subquery()),
            col(CampaignDelivery.villager_id).in_(
                eligible.where(Villager.id == CampaignDelivery.villager_id).scalar_subquery()
            ),
        )
        .values(state=DeliveryState.SENDING, updated_at=now)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def skip_if_ineligible(*, session: Session, delivery_id: int, run_id: int, now: datetime) -> bool:
    """Mark a pending delivery skipped when its villager left (unsubscribed, inactive)."""
    running = select(CampaignRun.id).where(
        CampaignRun.id == run_id, CampaignRun.state == RunState.RUNNING
    )
    result = session.execute(
        update(CampaignDelivery)
        .where(
            col(CampaignDelivery.id) == delivery_id,
            col(CampaignDelivery.state) == DeliveryState.PENDING,
            col(CampaignDelivery.run_id).in_(running.scalar_subquery()),
        )
        .values(
            state=DeliveryState.SKIPPED,
            error="unsubscribed or inactive before sending",
            updated_at=now,
        )
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def finish_delivery(
    *,
    session: Session,
    delivery_id: int,
    state: DeliveryState,
    attempts: int,
    error: str | None = None,
    sent_at: datetime | None = None,
    now: datetime,
) -> None:
    """Record the final state of a delivery."""
    session.execute(
        update(CampaignDelivery)
        .where(col(CampaignDelivery.id) == delivery_id)
        .values(
            state=state,
            attempts=attempts,
            error=error[:255] if error else None,
            sent_at=sent_at,
            updated_at=now,
        )
    )


def interrupt_sending(*, session: Session, run_id: int, now: datetime) -> int:
    """Mark deliveries left SENDING by a crash as failed (outcome unknown: never re-sent)."""
    result = session.execute(
        update(CampaignDelivery)
        .where(
            col(CampaignDelivery.run_id) == run_id,
            col(CampaignDelivery.state) == DeliveryState.SENDING,
        )
        .values(
            state=DeliveryState.FAILED,
            error="interrupted: outcome unknown, not re-sent",
            updated_at=now,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def skip_pending(*, session: Session, run_id: int, reason: str, now: datetime) -> int:
    """Mark the run's pending deliveries skipped (a cancelled run)."""
    result = session.execute(
        update(CampaignDelivery)
        .where(
            col(CampaignDelivery.run_id) == run_id,
            col(CampaignDelivery.state) == DeliveryState.PENDING,
        )
        .values(state=DeliveryState.SKIPPED, error=reason, updated_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def delivery_counts(*, session: Session, run_id: int) -> dict[str, int]:
    """Return the number of deliveries of a run per state."""
    statement = (
        select(CampaignDelivery.state, func.count())
        .where(CampaignDelivery.run_id == run_id)
        .group_by(col(CampaignDelivery.state))
    )
    return {str(s): int(n) for s, n in session.exec(statement).all()}


def click_counts(*, session: Session, run_id: int) -> dict[str, int]:
    """Return the number of clicks of a run per kind (useful, unsubscribe)."""
    statement = (
        select(CampaignClick.kind, func.count())
        .join(CampaignDelivery, col(CampaignDelivery.id) == col(CampaignClick.delivery_id))
        .where(CampaignDelivery.run_id == run_id)
        .group_by(col(CampaignClick.kind))
    )
    return {str(k): int(n) for k, n in session.exec(statement).all()}


def record_click(*, session: Session, delivery_id: int, kind: str) -> bool:
    """Record a click once per (delivery, kind); return False when it was already recorded."""
    existing = session.exec(
        select(CampaignClick).where(
            CampaignClick.delivery_id == delivery_id, CampaignClick.kind == kind
        )
    ).first()
    if existing is not None:
        return False
    try:
        with session.begin_nested():
            session.add(CampaignClick(delivery_id=delivery_id, kind=kind))
        return True
    except IntegrityError:
        return False


def running_runs(*, session: Session) -> list[CampaignRun]:
    """Return runs left RUNNING (interrupted broadcasts to resume)."""
    statement = select(CampaignRun).where(CampaignRun.state == RunState.RUNNING)
    return list(session.exec(statement.order_by(col(CampaignRun.id))).all())


def recent_runs(*, session: Session, limit: int = 20) -> list[CampaignRun]:
    """Return the newest runs first."""
    statement = select(CampaignRun).order_by(col(CampaignRun.due_at).desc()).limit(limit)
    return list(session.exec(statement).all())
