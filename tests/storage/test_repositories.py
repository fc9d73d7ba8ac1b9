"""Repository functions against a real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from storage import repositories as repo
from storage.clock import utcnow
from storage.db import Database
from storage.models import Consultation, EscalationEvent, Villager


def _consultation(villager: Villager, text: str = "欠条怎么写", **fields: object) -> Consultation:
    assert villager.id is not None
    values: dict[str, object] = {
        "villager_id": villager.id,
        "channel": villager.channel,
        "raw_text": text,
        "decision": "answer",
    }
    values.update(fields)
    return Consultation(**values)  # type: ignore[arg-type]


def test_a_villager_is_created_once_per_channel_and_user(db: Database) -> None:
    with db.session() as session:
        first = repo.get_or_create_villager(
            now=utcnow(), session=session, channel="telegram", channel_user_id="42"
        )
        again = repo.get_or_create_villager(
            now=utcnow(), session=session, channel="telegram", channel_user_id="42"
        )
        other = repo.get_or_create_villager(
            now=utcnow(), session=session, channel="console", channel_user_id="42"
        )
        assert first.id == again.id
        assert other.id != first.id
        assert first.label.startswith("村民")
        assert "42" not in first.label


def test_consultations_come_back_newest_first_and_counted_by_time(db: Database) -> None:
    with db.session() as session:
        villager = repo.get_or_create_villager(
            now=utcnow(), session=session, channel="telegram", channel_user_id="7"
        )
        old = _consultation(villager, "旧问题", created_at=utcnow() - timedelta(hours=2))
        repo.add_consultation(session=session, consultation=old)
        for i in range(3):
            repo.add_consultation(
                session=session, consultation=_consultation(villager, f"问题{i}")
            )
        assert villager.id is not None
        recent = repo.recent_consultations(session=session, villager_id=villager.id, limit=2)
        assert [c.raw_text for c in recent] == ["问题2", "问题1"]
        since = utcnow() - timedelta(minutes=1)
        assert (
            repo.count_recent_consultations(session=session, villager_id=villager.id, since=since)
            == 3
        )


def test_an_update_key_is_recorded_once(db: Database) -> None:
    with db.session() as session:
        villager = repo.get_or_create_villager(
            now=utcnow(), session=session, channel="telegram", channel_user_id="9"
        )
        repo.add_consultation(
            session=session, consultation=_consultation(villager, update_key="tg:1")
        )
    with db.session() as session:
        assert repo.consultation_by_update_key(session=session, update_key="tg:1") is not None
        assert repo.consultation_by_update_key(session=session, update_key="tg:2") is None
    with db.session() as session:
        villager = repo.get_or_create_villager(
            now=utcnow(), session=session, channel="telegram", channel_user_id="9"
        )
        duplicate = _consultation(villager, update_key="tg:1")
        with pytest.raises(IntegrityError):
            repo.add_consultation(session=session, consultation=duplicate)
        session.rollback()


def test_feedback_is_one_row_per_consultation_and_target(db: Database) -> None:
    with db.session() as session:
        villager = repo.get_or_create_villager(
            now=utcnow(), session=session, channel="telegram", channel_user_id="5"
        )
        consultation = repo.add_consultation(session=session, consultation=_consultation(villager))
        assert consultation.id is not None
        assert villager.id is not None
        repo.record_feedback(
            session=session, consultation_id=consultation.id, villager_id=villager.id, helpful=True
        )
        updated = repo.record_feedback(
            session=session,
            consultation_id=consultation.id,
            villager_id=villager.id,
            helpful=False,
            reason="wrong",
        )
        assert not updated.helpful
        assert updated.reason == "wrong"
        assert repo.villager_summary(session=session, villager_id=villager.id)["feedback"] == 1


def test_opening_an_escalation_records_its_first_transition(db: Database) -> None:
    with db.session() as session:
        villager = repo.get_or_create_villager(
            now=utcnow(), session=session, channel="telegram", channel_user_id="3"
        )
        consultation = repo.add_consultation(
            session=session, consultation=_consultation(villager, decision="escalate")
        )
        escalation = repo.open_escalation(
            now=utcnow(),
            session=session,
            consultation=consultation,
            advisor_id="100",
            reason="unmatched",
            urgent=False,
        )
        events = session.exec(
            select(EscalationEvent).where(EscalationEvent.escalation_id == escalation.id)
        ).all()
        assert [(e.from_state, e.to_state) for e in events] == [(None, "open")]
        assert villager.id is not None
        found = repo.open_escalation_for_villager(session=session, villager_id=villager.id)
        assert found is not None
        assert found.id == escalation.id


def test_forgetting_anonymises_texts_but_keeps_the_counts(db: Database) -> None:
    with db.session() as session:
        villager = repo.get_or_create_villager(
            now=utcnow(), session=session, channel="telegram", channel_user_id="11"
        )
        for text in ("我电话13812345678", "离婚孩子归谁"):
            repo.add_consultation(session=session, consultation=_consultation(villager, text))
        assert repo.forget_villager(now=utcnow(), session=session, villager=villager) == 2
    with db.session() as session:
        rows = session.exec(select(Consultation)).all()
        assert len(rows) == 2
        assert all(r.raw_text == repo.FORGOTTEN for r in rows)
        assert repo.get_villager(session=session, channel="telegram", channel_user_id="11") is None
