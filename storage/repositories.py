"""Repository functions over one session: keyword-only, typed, no business rules."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.clock import as_utc
from storage.models import (
    Consultation,
    Decision,
    Escalation,
    EscalationEvent,
    EscalationMessage,
    EscalationTurn,
    FaqDraft,
    Feedback,
    Villager,
)

__all__ = [
    "add_consultation",
    "add_escalation_event",
    "card_recorded",
    "consultation_by_update_key",
    "count_recent_consultations",
    "escalation_of_consultation",
    "forget_villager",
    "get_consultation",
    "get_or_create_villager",
    "get_villager",
    "held_consultations",
    "mark_replied",
    "open_escalation",
    "open_escalation_for_villager",
    "popular_faq_ids",
    "pseudonym",
    "purge_older_than",
    "recent_consultations",
    "record_feedback",
    "villager_summary",
]

FORGOTTEN = "（已删除）"
PURGED = "（已过保存期限）"
LAST_SEEN_RESOLUTION = timedelta(minutes=1)  # last_seen_at is not rewritten more often


def pseudonym(channel: str, channel_user_id: str) -> str:
    """Return a stable label for advisors that does not reveal who the villager is."""
    digest = hashlib.sha256(f"{channel}:{channel_user_id}".encode()).hexdigest()
    return f"村民{digest[:5].upper()}"


def get_villager(*, session: Session, channel: str, channel_user_id: str) -> Villager | None:
    """Return the villager known on this channel by this id, or None."""
    statement = select(Villager).where(
        Villager.channel == channel, Villager.channel_user_id == channel_user_id
    )
    return session.exec(statement).first()


def get_or_create_villager(
    *,
    session: Session,
    channel: str,
    channel_user_id: str,
    chat_id: str | None = None,
    now: datetime,
) -> Villager:
    """Return the villager, creating the row on first contact (race-safe)."""
    villager = get_villager(session=session, channel=channel, channel_user_id=channel_user_id)
    if villager is None:
        villager = Villager(
            channel=channel,
            channel_user_id=channel_user_id,
            chat_id=chat_id,
            label=pseudonym(channel, channel_user_id),
            created_at=now,
            last_seen_at=now,
        )
        try:
            with session.begin_nested():
                session.add(villager)
        except IntegrityError:
            found = get_villager(session=session, channel=channel, channel_user_id=channel_user_id)
            if found is None:
                raise
            villager = found
        else:
            return villager
    # One UPDATE less per message: last_seen_at has a one-minute resolution, so a villager
    # already seen within the minute, active and in the same chat, is not written again.
    seen = as_utc(villager.last_seen_at) if villager.last_seen_at is not None else None
    if (
        villager.active
        and (chat_id is None or villager.chat_id == chat_id)
        and seen is not None
        and timedelta(0) <= now - seen < LAST_SEEN_RESOLUTION
    ):
        return villager
    villager.last_seen_at = now
    villager.active = True
    if chat_id is not None:
        villager.chat_id = chat_id
    session.add(villager)
    session.flush()
    return villager


def consultation_by_update_key(*, session: Session, update_key: str) -> Consultation | None:
    """Return the consultation already recorded for a channel update, or None."""
    statement = select(Consultation).where(Consultation.update_key == update_key)
    return session.exec(statement).first()


def add_consultation(*, session: Session, consultation: Consultation) -> Consultation:
    """Store a consultation and return it with its id."""
    session.add(consultation)
    session.flush()
    return consultation


MAX_ROW_ID = 2**31 - 1  # PostgreSQL's INTEGER: a larger id from a forged button is no row


def get_consultation(*, session: Session, consultation_id: int) -> Consultation | None:
    """Return a consultation by id, or None (also for ids no row can have)."""
    if not 0 < consultation_id <= MAX_ROW_ID:
        return None
    return session.get(Consultation, consultation_id)


def recent_consultations(
    *, session: Session, villager_id: int, limit: int = 3, before_id: int | None = None
) -> Sequence[Consultation]:
    """Return a villager's latest consultations, newest first."""
    statement = select(Consultation).where(Consultation.villager_id == villager_id)
    if before_id is not None:
        statement = statement.where(col(Consultation.id) < before_id)
    statement = statement.order_by(col(Consultation.id).desc()).limit(limit)
    return session.exec(statement).all()


def count_recent_consultations(
    *,
    session: Session,
    villager_id: int,
    since: datetime,
    decisions: Sequence[str] | None = None,
    excluding: Sequence[str] = (),
) -> int:
    """Count a villager's consultations since a moment (for pacing), optionally by decision."""
    statement = select(func.count()).where(
        Consultation.villager_id == villager_id, col(Consultation.created_at) >= since
    )
    if decisions is not None:
        statement = statement.where(col(Consultation.decision).in_(decisions))
    if excluding:
        statement = statement.where(col(Consultation.decision).not_in(excluding))
    return int(session.exec(statement).one())


def held_consultations(
    *, session: Session, villager_id: int | None = None, limit: int = 500
) -> list[tuple[Consultation, Villager]]:
    """Return messages held back by the pace limit, oldest first, with their senders."""
    statement = (
        select(Consultation, Villager)
        .join(Villager, col(Villager.id) == col(Consultation.villager_id))
        .where(Consultation.decision == Decision.THROTTLED)
        .order_by(col(Consultation.id))
        .limit(limit)
    )
    if villager_id is not None:
        statement = statement.where(Consultation.villager_id == villager_id)
    return [(c, v) for c, v in session.exec(statement).all()]


def popular_faq_ids(*, session: Session, topic_key: str, limit: int) -> list[str]:
    """Return the FAQ ids of a topic most often answered or chosen, most frequent first."""
    statement = (
        select(Consultation.faq_id, func.count().label("n"))
        .where(Consultation.topic_key == topic_key, col(Consultation.faq_id).is_not(None))
        .group_by(col(Consultation.faq_id))
        .order_by(func.count().desc(), col(Consultation.faq_id))
        .limit(limit)
    )
    return [faq_id for faq_id, _ in session.exec(statement).all() if faq_id]


def record_feedback(
    *,
    session: Session,
    consultation_id: int,
    villager_id: int,
    helpful: bool,
    target: str = "faq",
    reason: str | None = None,
) -> Feedback:
    """Store or update the feedback of a villager on a consultation's answer."""
    statement = select(Feedback).where(
        Feedback.consultation_id == consultation_id, Feedback.target == target
    )
    feedback = session.exec(statement).first()
    if feedback is None:
        feedback = Feedback(
            consultation_id=consultation_id,
            villager_id=villager_id,
            target=target,
            helpful=helpful,
        )
    feedback.helpful = helpful
    if reason is not None:
        feedback.reason = reason
    session.add(feedback)
    session.flush()
    return feedback


def open_escalation(
    *,
    session: Session,
    consultation: Consultation,
    advisor_id: str | None,
    reason: str,
    urgent: bool,
    now: datetime,
) -> Escalation:
    """Open an escalation for a consultation and record the first transition."""
    assert consultation.id is not None
    escalation = Escalation(
        consultation_id=consultation.id,
        villager_id=consultation.villager_id,
        village_code=consultation.village_code,
        advisor_id=advisor_id,
        reason=reason,
        urgent=urgent,
        created_at=now,
    )
    session.add(escalation)
    session.flush()
    assert escalation.id is not None
    add_escalation_event(
        session=session, escalation_id=escalation.id, from_state=None, to_state=escalation.state
    )
    return escalation


def add_escalation_event(
    *,
    session: Session,
    escalation_id: int,
    from_state: str | None,
    to_state: str,
    actor: str = "system",
    note: str = "",
    at: datetime | None = None,
) -> EscalationEvent:
    """Record one transition of an escalation (at `at`, default now)."""
    event = EscalationEvent(
        escalation_id=escalation_id,
        from_state=from_state,
        to_state=to_state,
        actor=actor,
        note=note,
    )
    if at is not None:
        event.at = at
    session.add(event)
    session.flush()
    return event


def open_escalation_for_villager(*, session: Session, villager_id: int) -> Escalation | None:
    """Return the villager's newest escalation that is still open, claimed or answered."""
    statement = (
        select(Escalation)
        .where(
            Escalation.villager_id == villager_id,
            col(Escalation.state).in_(["open", "claimed", "answered", "reassigned"]),
        )
        .order_by(col(Escalation.id).desc())
    )
    return session.exec(statement).first()


def villager_summary(*, session: Session, villager_id: int) -> dict[str, int]:
    """Count what is stored about a villager (for /mydata)."""
    consultations = session.exec(
        select(func.count()).where(Consultation.villager_id == villager_id)
    ).one()
    feedback = session.exec(select(func.count()).where(Feedback.villager_id == villager_id)).one()
    escalations = session.exec(
        select(func.count()).where(Escalation.villager_id == villager_id)
    ).one()
    return {
        "consultations": int(consultations),
        "feedback": int(feedback),
        "escalations": int(escalations),
    }


def forget_villager(*, session: Session, villager: Villager, now: datetime) -> int:
    """Anonymise a villager's texts and profile, keeping counts for statistics."""
    assert villager.id is not None
    consultations = session.exec(
        select(Consultation).where(Consultation.villager_id == villager.id)
    ).all()
    for consultation in consultations:
        consultation.raw_text = FORGOTTEN
        consultation.normalized_text = ""
        session.add(consultation)
    escalation_ids = session.exec(
        select(Escalation.id).where(Escalation.villager_id == villager.id)
    ).all()
    if escalation_ids:
        # The whole exchange goes: the villager's words, and the advisor's answers that quote them.
        session.execute(
            update(EscalationTurn)
            .where(col(EscalationTurn.escalation_id).in_(escalation_ids))
            .values(text=FORGOTTEN)
        )
        session.execute(
            update(FaqDraft)
            .where(col(FaqDraft.escalation_id).in_(escalation_ids))
            .values(question=FORGOTTEN, variants="[]")
        )
    villager.channel_user_id = f"forgotten-{villager.id}"
    villager.chat_id = None
    villager.phone = None
    villager.phone_consent_at = None
    villager.subscribed = False
    villager.elder_mode = False
    villager.consent_at = None
    villager.forgotten_at = now
    villager.active = False
    session.add(villager)
    session.flush()
    return len(consultations)


def mark_replied(*, session: Session, update_key: str, at: datetime) -> bool:
    """Stamp the consultation of a channel update as answered; False when none is unanswered."""
    statement = (
        update(Consultation)
        .where(col(Consultation.update_key) == update_key)
        .where(col(Consultation.replied_at).is_(None))
        .values(replied_at=at)
    )
    result = session.exec(statement)
    return bool(result.rowcount)


def escalation_of_consultation(*, session: Session, consultation_id: int) -> Escalation | None:
    """Return the escalation opened for a consultation, or None."""
    statement = select(Escalation).where(Escalation.consultation_id == consultation_id)
    return session.exec(statement).first()


def card_recorded(*, session: Session, escalation_id: int) -> bool:
    """Tell whether any card of the escalation reached an advisor (its message id is known)."""
    statement = select(EscalationMessage.id).where(
        EscalationMessage.escalation_id == escalation_id
    )
    return session.exec(statement).first() is not None


def purge_older_than(*, session: Session, before: datetime) -> dict[str, int]:
    """Anonymise the texts of consultations (and advisor exchanges) created before `before`.

    Rows, decisions, FAQ ids, topics and villages stay, so every count and report keeps its
    numbers; only what the villager wrote (and the advisors' turns about it) is replaced.
    Idempotent: already purged rows are not touched again.
    """
    consultations = session.exec(
        update(Consultation)
        .where(col(Consultation.created_at) < before)
        .where(col(Consultation.raw_text).not_in([PURGED, FORGOTTEN]))
        .values(raw_text=PURGED, normalized_text="")
    ).rowcount
    turns = session.exec(
        update(EscalationTurn)
        .where(col(EscalationTurn.at) < before)
        .where(col(EscalationTurn.text) != PURGED)
        .values(text=PURGED)
    ).rowcount
    session.flush()
    return {"consultations": int(consultations or 0), "turns": int(turns or 0)}
