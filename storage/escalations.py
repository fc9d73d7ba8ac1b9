"""Repository functions of the escalation workflow (advisor cards, turns, failover, drafts)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from storage.models import (
    Escalation,
    EscalationEvent,
    EscalationMessage,
    EscalationState,
    EscalationTurn,
    FaqDraft,
)
from storage.repositories import add_escalation_event

__all__ = [
    "ACTIVE_STATES",
    "add_turn",
    "claim",
    "escalation_by_card",
    "escalations_for",
    "escalations_in",
    "escalations_of_villager",
    "first_response_durations",
    "get_escalation",
    "last_answer_at",
    "record_card",
    "set_state",
    "sla_candidates",
    "undelivered_turns",
]

ACTIVE_STATES = (EscalationState.OPEN, EscalationState.CLAIMED, EscalationState.ANSWERED)
WAITING_STATES = (EscalationState.OPEN, EscalationState.CLAIMED)


def get_escalation(*, session: Session, escalation_id: int) -> Escalation | None:
    """Return an escalation by id, or None."""
    return session.get(Escalation, escalation_id)


def claim(*, session: Session, escalation_id: int, actor: str, now: datetime) -> bool:
    """Claim an open escalation atomically; False when someone else got there first."""
    result = session.execute(
        update(Escalation)
        .where(col(Escalation.id) == escalation_id, col(Escalation.state) == EscalationState.OPEN)
        .values(state=EscalationState.CLAIMED, claimed_at=now, advisor_id=actor)
    )
    claimed = bool(getattr(result, "rowcount", 0))
    if claimed:
        add_escalation_event(
            session=session,
            escalation_id=escalation_id,
            from_state=EscalationState.OPEN,
            to_state=EscalationState.CLAIMED,
            actor=actor,
        )
    session.expire_all()
    return claimed


def set_state(
    *,
    session: Session,
    escalation: Escalation,
    state: str,
    actor: str,
    now: datetime,
    note: str = "",
) -> None:
    """Move an escalation to a state and record the transition."""
    assert escalation.id is not None
    previous = escalation.state
    escalation.state = state
    if state == EscalationState.CLOSED:
        escalation.closed_at = now
    session.add(escalation)
    session.add(
        EscalationEvent(
            escalation_id=escalation.id,
            from_state=previous,
            to_state=state,
            actor=actor,
            note=note,
            at=now,
        )
    )
    session.flush()


def add_turn(
    *, session: Session, escalation_id: int, author: str, actor: str, text: str, now: datetime
) -> EscalationTurn:
    """Store one message of the villager–advisor exchange."""
    turn = EscalationTurn(
        escalation_id=escalation_id, author=author, actor=actor, text=text, at=now
    )
    session.add(turn)
    session.flush()
    return turn


def record_card(*, session: Session, escalation_id: int, chat_id: str, message_id: int) -> None:
    """Remember which message in which chat is the card of an escalation."""
    session.add(
        EscalationMessage(escalation_id=escalation_id, chat_id=chat_id, message_id=message_id)
    )
    session.flush()


def escalation_by_card(*, session: Session, chat_id: str, message_id: int) -> Escalation | None:
    """Return the escalation whose card is this message, or None."""
    statement = (
        select(Escalation)
        .join(EscalationMessage, col(EscalationMessage.escalation_id) == col(Escalation.id))
        .where(EscalationMessage.chat_id == chat_id, EscalationMessage.message_id == message_id)
    )
    return session.exec(statement).first()


def escalations_for(
    *, session: Session, advisor_ids: Sequence[str], villages: Sequence[str], states: Sequence[str]
) -> Sequence[Escalation]:
    """Return escalations assigned to these users or in these villages, oldest first."""
    statement = (
        select(Escalation)
        .where(col(Escalation.state).in_(list(states)))
        .where(
            col(Escalation.advisor_id).in_(list(advisor_ids))
            | col(Escalation.village_code).in_(list(villages))
        )
        .order_by(col(Escalation.created_at), col(Escalation.id))
    )
    return session.exec(statement).all()


def last_answer_at(*, session: Session, escalation_id: int) -> datetime | None:
    """When the advisor last answered in an escalation's thread (None before any answer)."""
    statement = select(func.max(EscalationTurn.at)).where(
        EscalationTurn.escalation_id == escalation_id, EscalationTurn.author == "advisor"
    )
    return session.exec(statement).one()


def escalations_in(*, session: Session, states: Sequence[str]) -> Sequence[Escalation]:
    """Return every escalation in these states, oldest first."""
    statement = (
        select(Escalation)
        .where(col(Escalation.state).in_(list(states)))
        .order_by(col(Escalation.created_at), col(Escalation.id))
    )
    return session.exec(statement).all()


def escalations_of_villager(*, session: Session, villager_id: int) -> Sequence[Escalation]:
    """Return every escalation of a villager, oldest first."""
    statement = (
        select(Escalation)
        .where(Escalation.villager_id == villager_id)
        .order_by(col(Escalation.id))
    )
    return session.exec(statement).all()


def sla_candidates(*, session: Session) -> Sequence[Escalation]:
    """Return the escalations still waiting for an advisor (open or claimed)."""
    statement = (
        select(Escalation)
        .where(col(Escalation.state).in_(list(WAITING_STATES)))
        .order_by(col(Escalation.id))
    )
    return session.exec(statement).all()


def has_event(*, session: Session, escalation_id: int, note: str) -> bool:
    """Tell whether the escalation has an event with this note."""
    statement = select(EscalationEvent.id).where(
        EscalationEvent.escalation_id == escalation_id, EscalationEvent.note == note
    )
    return session.exec(statement.limit(1)).first() is not None


def undelivered_turns(*, session: Session, villager_id: int) -> Sequence[EscalationTurn]:
    """Return advisor answers not yet shown to the villager, oldest first."""
    statement = (
        select(EscalationTurn)
        .join(Escalation, col(Escalation.id) == col(EscalationTurn.escalation_id))
        .where(
            Escalation.villager_id == villager_id,
            EscalationTurn.author == "advisor",
            col(EscalationTurn.delivered_at).is_(None),
        )
        .order_by(col(EscalationTurn.id))
    )
    return session.exec(statement).all()


def first_response_durations(*, session: Session, advisor_id: str) -> list[float]:
    """Return the first-response times (hours) of the escalations this advisor answered."""
    statement = select(Escalation.created_at, Escalation.first_response_at).where(
        Escalation.advisor_id == advisor_id, col(Escalation.first_response_at).is_not(None)
    )
    return [
        (answered - created).total_seconds() / 3600
        for created, answered in session.exec(statement).all()
        if answered is not None
    ]


def add_draft(*, session: Session, draft: FaqDraft) -> FaqDraft:
    """Store a draft FAQ entry."""
    session.add(draft)
    session.flush()
    return draft
