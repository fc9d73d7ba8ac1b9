"""Advisor escalation: routing, advisor cards, answers both ways, SLA reminders and failover.

Each village has a legal advisor and a backup; the town's justice office is the last resort.
Opening an escalation returns the notices to send (cards to advisors); `sweep` is the SLA job's
core: it reads the waiting escalations from the database and returns what is due, marking it in
the same transaction, so a restart recomputes everything and never repeats a reminder.
"""

from __future__ import annotations

import json
import logging
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from bot import texts
from bot.config import Config, Village
from bot.services import actions
from bot.services.campaign_schedule import in_quiet_hours
from bot.services.outcomes import Notice, Outcome, Sender
from bot.services.privacy import mask_numbers
from bot.services.replies import Button, Reply
from knowledge.models import KnowledgeBase
from storage import escalations as esc_repo
from storage import repositories as repo
from storage.clock import as_utc
from storage.db import Database
from storage.models import Consultation, Escalation, EscalationState, FaqDraft, Villager

URGENT_ALARM = "urgent unclaimed: office and staff alerted"

__all__ = ["EscalationService", "EscalationView", "guesses"]

logger = logging.getLogger(__name__)

FOLLOW_UP_WINDOW = timedelta(days=7)
_CARD_NUMBER = re.compile(r"^(?:📋 咨询|💬 咨询|⏰ 提醒：咨询) #(\d+)")
OFFICE_LEVEL = 2


@dataclass
class EscalationService:
    """Use cases of the advisor side (and the villager's side of an escalation)."""

    config: Config
    db: Database
    kb: KnowledgeBase
    clock: Callable[[], datetime]

    # --- who is who -----------------------------------------------------------------------
    def office_ids(self) -> list[str]:
        """Return the justice office's Telegram ids."""
        return [str(i) for i in self.config.justice_office.telegram_ids]

    def is_advisor(self, user_id: str) -> bool:
        """Tell whether the user is a configured advisor, backup advisor or office member."""
        return bool(self._villages_of(user_id)) or user_id in self.office_ids()

    def _villages_of(self, user_id: str) -> list[Village]:
        return [
            v
            for v in self.config.villages
            if user_id in (str(v.advisor_id), str(v.backup_advisor_id))
        ]

    def _may_handle(self, user_id: str, escalation: Escalation) -> bool:
        if user_id == escalation.advisor_id or user_id in self.office_ids():
            return True
        return any(v.code == escalation.village_code for v in self._villages_of(user_id))

    def _title(self, user_id: str, village_code: str | None) -> str:
        village = self.config.village(village_code)
        if village is not None and user_id == str(village.advisor_id):
            return f"{village.name}法律顾问{village.advisor_name.removeprefix(village.name + '法律顾问')}"
        if village is not None and user_id == str(village.backup_advisor_id):
            return f"{village.name}后备法律顾问"
        return self.config.justice_office.name

    # --- opening --------------------------------------------------------------------------
    def open(
        self,
        session: Session,
        consultation: Consultation,
        village: Village | None,
        *,
        reason: str,
        urgent: bool,
    ) -> list[Notice]:
        """Open an escalation for a consultation and return the cards to send now."""
        now = self.clock()
        advisor = str(village.advisor_id) if village and village.advisor_id else None
        level = 0 if advisor else OFFICE_LEVEL
        escalation = repo.open_escalation(
            now=self.clock(),
            session=session,
            consultation=consultation,
            advisor_id=advisor or next(iter(self.office_ids()), None),
            reason=reason,
            urgent=urgent,
        )
        escalation.level = level
        escalation.created_at = now
        escalation.assigned_at = now
        session.add(escalation)
        if not urgent and self._quiet(now):
            return []  # held: the SLA sweep sends the card when quiet hours end
        escalation.notified_at = now
        recipients = self._assignees(escalation)
        if urgent:
            recipients += [i for i in self.office_ids() if i not in recipients]
        card = self.card(session, escalation)
        return [Notice(user_id=r, reply=card, escalation_id=escalation.id) for r in recipients]

    def _assignees(self, escalation: Escalation) -> list[str]:
        if escalation.level >= OFFICE_LEVEL:
            return self.office_ids() or ([escalation.advisor_id] if escalation.advisor_id else [])
        return [escalation.advisor_id] if escalation.advisor_id else self.office_ids()

    def _quiet(self, now: datetime) -> bool:
        local = as_utc(now).astimezone(self.config.town.tz)
        return in_quiet_hours(local.time(), self.config.sla.quiet_start, self.config.sla.quiet_end)

    def card(self, session: Session, escalation: Escalation, *, note: str = "") -> Reply:
        """Render the advisor card: village, pseudonym, question, guesses, history, buttons."""
        assert escalation.id is not None
        consultation = repo.get_consultation(
            session=session, consultation_id=escalation.consultation_id
        )
        villager = session.get(Villager, escalation.villager_id)
        village = self.config.village(escalation.village_code)
        phone = (
            f"（电话 {villager.phone}）"
            if villager and villager.phone and villager.phone_consent_at
            else ""
        )
        lines = [
            texts.CARD_HEAD.format(
                id=escalation.id,
                village=village.name if village else "未选村",
                urgent=texts.CARD_URGENT if escalation.urgent else "",
            ),
            texts.CARD_VILLAGER.format(label=villager.label if villager else "村民", phone=phone),
            texts.CARD_QUESTION.format(
                question=mask_numbers(consultation.raw_text if consultation else "")[:1500]
            ),
        ]
        if note:
            lines.append(note)
        stored = guesses(consultation)
        entries = [(self.kb.entry(i), score) for i, score in stored]
        named = [(e.question, s) for e, s in entries if e is not None]
        if named:
            lines.append(texts.CARD_GUESSES)
            lines += [f"{n}. {q}（{s:.2f}）" for n, (q, s) in enumerate(named[:3], 1)]
        else:
            lines.append(texts.CARD_NO_GUESS)
        history = repo.recent_consultations(
            session=session,
            villager_id=escalation.villager_id,
            limit=3,
            before_id=escalation.consultation_id,
        )
        if history:
            lines.append(texts.CARD_HISTORY)
            tz = self.config.town.tz
            lines += [
                f"· {as_utc(c.created_at).astimezone(tz):%m-%d} {mask_numbers(c.raw_text)[:30]}（{c.decision}）"
                for c in history
            ]
        lines.append(texts.CARD_HOWTO.format(id=escalation.id))
        e = escalation.id
        buttons = (
            (
                Button(texts.BUTTON_CLAIM, actions.encode(actions.ADVISOR_CARD, "claim", e)),
                Button(texts.BUTTON_REPLY, actions.encode(actions.ADVISOR_CARD, "reply", e)),
            ),
            (
                Button(texts.BUTTON_CALL, actions.encode(actions.ADVISOR_CARD, "call", e)),
                Button(texts.BUTTON_OFFICE, actions.encode(actions.ADVISOR_CARD, "office", e)),
            ),
            (Button(texts.BUTTON_DRAFT, actions.encode(actions.ADVISOR_CARD, "draft", e)),),
        )
        return Reply("\n".join(lines), buttons)

    # --- advisor actions ------------------------------------------------------------------
    def advisor_action(self, advisor: Sender, arg: str) -> Outcome:
        """Handle an advisor card button: claim, reply, call, office, draft."""
        verb, _, raw_id = arg.partition(":")
        if not self.is_advisor(advisor.user_id):
            logger.warning("non-advisor %s pressed an advisor button", advisor.user_id)
            return Outcome((Reply(texts.ADVISOR_ONLY),))
        actions: dict[str, Callable[[Sender, int], Outcome]] = {
            "claim": self.claim,
            "reply": self.reply_prompt,
            "call": self.request_call,
            "office": self.to_office,
            "draft": self.make_draft,
        }
        if verb not in actions or not raw_id.isdigit():
            return Outcome((Reply(texts.CHOICE_EXPIRED),))
        return actions[verb](advisor, int(raw_id))

    def _guarded(
        self, advisor: Sender, escalation_id: int, body: Callable[[Session, Escalation], Outcome]
    ) -> Outcome:
        with self.db.session() as session:
            escalation = esc_repo.get_escalation(session=session, escalation_id=escalation_id)
            if escalation is None:
                return Outcome((Reply(texts.NO_SUCH_ESCALATION.format(id=escalation_id)),))
            if not self._may_handle(advisor.user_id, escalation):
                logger.warning(
                    "advisor %s refused on escalation %s", advisor.user_id, escalation_id
                )
                return Outcome((Reply(texts.NOT_YOURS),))
            return body(session, escalation)

    def reply_prompt(self, advisor: Sender, escalation_id: int) -> Outcome:
        """Explain how to answer (the 回复 button)."""
        prompt = Outcome((Reply(texts.REPLY_PROMPT.format(id=escalation_id)),))
        return self._guarded(advisor, escalation_id, lambda _session, _escalation: prompt)

    def claim(self, advisor: Sender, escalation_id: int) -> Outcome:
        """Claim an escalation; of two advisors racing, one wins and the other is told."""

        def body(session: Session, _escalation: Escalation) -> Outcome:
            if esc_repo.claim(
                session=session,
                escalation_id=escalation_id,
                actor=advisor.user_id,
                now=self.clock(),
            ):
                return Outcome((Reply(texts.CLAIMED.format(id=escalation_id)),))
            current = esc_repo.get_escalation(session=session, escalation_id=escalation_id)
            if current is not None and current.state == EscalationState.CLAIMED:
                who = (
                    "您"
                    if current.advisor_id == advisor.user_id
                    else self._title(current.advisor_id or "", current.village_code)
                )
                return Outcome((Reply(texts.CLAIMED_BY_OTHER.format(id=escalation_id, who=who)),))
            return Outcome((Reply(texts.ALREADY_DONE.format(id=escalation_id)),))

        return self._guarded(advisor, escalation_id, body)

    def reply(self, advisor: Sender, escalation_id: int, text: str) -> Outcome:
        """Send an advisor's answer to the villager (several rounds are fine)."""
        text = text.strip()
        if not text:
            return Outcome((Reply(texts.REPLY_EMPTY.format(id=escalation_id)),))

        def body(session: Session, escalation: Escalation) -> Outcome:
            if escalation.state == EscalationState.CLOSED:
                return Outcome((Reply(texts.ALREADY_DONE.format(id=escalation_id)),))
            now = self.clock()
            turn = esc_repo.add_turn(
                session=session,
                escalation_id=escalation_id,
                author="advisor",
                actor=advisor.user_id,
                text=text,
                now=now,
            )
            if escalation.first_response_at is None:
                escalation.first_response_at = now
            if escalation.state != EscalationState.ANSWERED:
                esc_repo.set_state(
                    session=session,
                    escalation=escalation,
                    state=EscalationState.ANSWERED,
                    actor=advisor.user_id,
                    now=now,
                )
            escalation.thread_open = True
            session.add(escalation)
            villager = session.get(Villager, escalation.villager_id)
            notices: tuple[Notice, ...] = ()
            if villager is not None and villager.forgotten_at is None:
                answer = Reply(
                    texts.ADVISOR_ANSWER.format(
                        title=self._title(advisor.user_id, escalation.village_code), text=text
                    ),
                    (
                        (
                            Button(
                                texts.BUTTON_ADVISOR_GOOD,
                                actions.encode(actions.THREAD, "fb", escalation_id, "y"),
                            ),
                            Button(
                                texts.BUTTON_ADVISOR_BAD,
                                actions.encode(actions.THREAD, "fb", escalation_id, "n"),
                            ),
                        ),
                        (
                            Button(
                                texts.BUTTON_NEW_QUESTION,
                                actions.encode(actions.THREAD, "new", escalation_id),
                            ),
                        ),
                    ),
                )
                notices = (
                    Notice(
                        user_id=villager.chat_id or villager.channel_user_id,
                        reply=answer,
                        channel=villager.channel,
                        turn_id=turn.id,
                    ),
                )
            return Outcome((Reply(texts.REPLY_SENT.format(id=escalation_id)),), notices)

        return self._guarded(advisor, escalation_id, body)

    def reply_to_card(
        self, advisor: Sender, chat_id: str, message_id: int, text: str, card_text: str = ""
    ) -> Outcome | None:
        """Answer through a Telegram reply to a card; None when the message is not a card.

        The card is found by its recorded message id, or else by the number in its first line
        (the bot's own text): a card whose id was not recorded yet (or lost in a crash) works too.
        """
        with self.db.session() as session:
            escalation = esc_repo.escalation_by_card(
                session=session, chat_id=chat_id, message_id=message_id
            )
        if escalation is not None and escalation.id is not None:
            return self.reply(advisor, escalation.id, text)
        found = _CARD_NUMBER.match(card_text)
        return self.reply(advisor, int(found.group(1)), text) if found else None

    def request_call(self, advisor: Sender, escalation_id: int) -> Outcome:
        """Ask the villager for consent to share their phone number with the advisor."""

        def body(session: Session, escalation: Escalation) -> Outcome:
            escalation.needs_call = True
            session.add(escalation)
            villager = session.get(Villager, escalation.villager_id)
            if villager is None:
                return Outcome((Reply(texts.NO_SUCH_ESCALATION.format(id=escalation_id)),))
            ask = Reply(
                texts.CALL_CONSENT.format(
                    advisor=self._title(advisor.user_id, escalation.village_code)
                ),
                (
                    (
                        Button(
                            texts.BUTTON_PHONE_YES,
                            actions.encode(actions.THREAD, "phone", escalation_id, "y"),
                        ),
                        Button(
                            texts.BUTTON_PHONE_NO,
                            actions.encode(actions.THREAD, "phone", escalation_id, "n"),
                        ),
                    ),
                ),
            )
            notice = Notice(
                user_id=villager.chat_id or villager.channel_user_id,
                reply=ask,
                channel=villager.channel,
            )
            return Outcome((Reply(texts.CALL_REQUESTED),), (notice,))

        return self._guarded(advisor, escalation_id, body)

    def to_office(self, advisor: Sender, escalation_id: int) -> Outcome:
        """Hand an escalation over to the justice office."""

        def body(session: Session, escalation: Escalation) -> Outcome:
            notices = self._reassign(session, escalation, OFFICE_LEVEL, actor=advisor.user_id)
            return Outcome(
                (
                    Reply(
                        texts.TRANSFERRED.format(
                            id=escalation_id, office=self.config.justice_office.name
                        )
                    ),
                ),
                tuple(notices),
            )

        return self._guarded(advisor, escalation_id, body)

    def make_draft(self, advisor: Sender, escalation_id: int) -> Outcome:
        """Turn the question and the advisor's last answer into a draft FAQ entry (not live)."""

        def body(session: Session, escalation: Escalation) -> Outcome:
            from sqlmodel import col, select

            from storage.models import EscalationTurn

            last = session.exec(
                select(EscalationTurn)
                .where(
                    EscalationTurn.escalation_id == escalation_id,
                    EscalationTurn.author == "advisor",
                )
                .order_by(col(EscalationTurn.id).desc())
            ).first()
            if last is None:
                return Outcome((Reply(texts.DRAFT_NEEDS_ANSWER),))
            consultation = repo.get_consultation(
                session=session, consultation_id=escalation.consultation_id
            )
            stored = guesses(consultation)
            guess = self.kb.entry(stored[0][0]) if stored else None
            draft = esc_repo.add_draft(
                session=session,
                draft=FaqDraft(
                    escalation_id=escalation_id,
                    question=consultation.raw_text if consultation else "",
                    answer=last.text,
                    topic_key=guess.topic_key if guess else None,
                    author=advisor.user_id,
                    created_at=self.clock(),
                ),
            )
            return Outcome((Reply(texts.DRAFT_SAVED.format(draft=draft.id)),))

        return self._guarded(advisor, escalation_id, body)

    def done(self, advisor: Sender, escalation_id: int) -> Outcome:
        """Close an escalation (/done)."""

        def body(session: Session, escalation: Escalation) -> Outcome:
            if escalation.state != EscalationState.CLOSED:
                esc_repo.set_state(
                    session=session,
                    escalation=escalation,
                    state=EscalationState.CLOSED,
                    actor=advisor.user_id,
                    now=self.clock(),
                )
            return Outcome((Reply(texts.DONE.format(id=escalation_id)),))

        return self._guarded(advisor, escalation_id, body)

    def queue(self, advisor: Sender, *, mine: bool = False) -> Outcome:
        """List open escalations of the advisor's villages (or only the advisor's own)."""
        villages = [] if mine else [v.code for v in self._villages_of(advisor.user_id)]
        states = list(esc_repo.ACTIVE_STATES)
        with self.db.session() as session:
            rows = esc_repo.escalations_for(
                session=session, advisor_ids=[advisor.user_id], villages=villages, states=states
            )
            head = texts.MINE_HEAD if mine else texts.QUEUE_HEAD
            return self._queue_reply(session, rows, head)

    def inbox_views(self, villages: Sequence[str] | None = None) -> list[EscalationView]:
        """The pending escalations (of `villages`, or the town) for the web console, oldest first."""
        now = self.clock()
        remind = timedelta(hours=self.config.sla.remind_hours)
        urgent_after = timedelta(minutes=self.config.sla.urgent_minutes)
        views = []
        with self.db.session() as session:
            rows = esc_repo.escalations_in(session=session, states=list(esc_repo.ACTIVE_STATES))
            for row in rows:
                if villages is not None and row.village_code not in villages:
                    continue
                assert row.id is not None
                age = now - as_utc(row.created_at)
                waiting = row.first_response_at is None
                if row.urgent and waiting:
                    badge = "urgent_overdue" if age >= urgent_after else "urgent"
                elif waiting and age >= remind:
                    badge = "overdue"
                elif waiting:
                    badge = "due"
                else:
                    badge = "answered"
                village = self.config.village(row.village_code)
                views.append(
                    EscalationView(
                        id=row.id,
                        village=village.name if village else "",
                        state=row.state,
                        state_name=texts.STATE_NAMES.get(row.state, row.state),
                        urgent=row.urgent,
                        needs_call=row.needs_call,
                        hours=age.total_seconds() / 3600,
                        badge=badge,
                        due_at=as_utc(row.created_at) + (urgent_after if row.urgent else remind),
                        card=self.card(session, row).text,
                    )
                )
        return views

    def overview(self) -> Outcome:
        """List every pending escalation of the town, oldest first (staff, `lawbot advisor queue`)."""
        with self.db.session() as session:
            rows = esc_repo.escalations_in(session=session, states=list(esc_repo.ACTIVE_STATES))
            return self._queue_reply(session, rows, texts.OVERVIEW_HEAD.format(count=len(rows)))

    def _queue_reply(self, session: Session, rows: Sequence[Escalation], head: str) -> Outcome:
        if not rows:
            return Outcome((Reply(texts.QUEUE_EMPTY),))
        now = self.clock()
        lines = [head]
        for row in rows[:30]:
            consultation = repo.get_consultation(
                session=session, consultation_id=row.consultation_id
            )
            village = self.config.village(row.village_code)
            hours = (now - as_utc(row.created_at)).total_seconds() / 3600
            lines.append(
                texts.QUEUE_LINE.format(
                    id=row.id,
                    village=village.name if village else "",
                    age=f"{hours:.0f}小时前",
                    state=texts.STATE_NAMES.get(row.state, row.state),
                    urgent="⚠️" if row.urgent else "",
                    question=mask_numbers(consultation.raw_text if consultation else "")[:40],
                )
            )
        return Outcome((Reply("\n".join(lines)),))

    def stats_me(self, advisor: Sender) -> Outcome:
        """Show the advisor's counts and median first-response time (/stats_me)."""
        with self.db.session() as session:
            rows = esc_repo.escalations_for(
                session=session,
                advisor_ids=[advisor.user_id],
                villages=[],
                states=[s.value for s in EscalationState],
            )
            durations = esc_repo.first_response_durations(
                session=session, advisor_id=advisor.user_id
            )
        median = f"{statistics.median(durations):.1f} 小时" if durations else "暂无"
        return Outcome(
            (
                Reply(
                    texts.STATS_ME.format(
                        total=len(rows),
                        answered=sum(r.first_response_at is not None for r in rows),
                        closed=sum(r.state == EscalationState.CLOSED for r in rows),
                        median=median,
                    )
                ),
            )
        )

    # --- adapter callbacks ----------------------------------------------------------------
    def record_card(self, escalation_id: int, chat_id: str, message_id: int) -> None:
        """Remember a sent card's message id, so replies to it reach the escalation."""
        with self.db.session() as session:
            esc_repo.record_card(
                session=session,
                escalation_id=escalation_id,
                chat_id=chat_id,
                message_id=message_id,
            )

    def mark_delivered(self, turn_id: int) -> None:
        """Record that an advisor's answer reached the villager."""
        from storage.models import EscalationTurn

        with self.db.session() as session:
            turn = session.get(EscalationTurn, turn_id)
            if turn is not None and turn.delivered_at is None:
                turn.delivered_at = self.clock()
                session.add(turn)

    def unreachable(self, escalation_id: int, user_id: str) -> list[Notice]:
        """An advisor blocked the bot: hand the escalation on and tell the staff."""
        with self.db.session() as session:
            escalation = esc_repo.get_escalation(session=session, escalation_id=escalation_id)
            if escalation is None or escalation.state not in esc_repo.WAITING_STATES:
                return []
            if user_id in self.office_ids() or escalation.level >= OFFICE_LEVEL:
                return []
            village = self.config.village(escalation.village_code)
            has_backup = (
                village is not None
                and village.backup_advisor_id
                and str(village.backup_advisor_id) != user_id
            )
            level = 1 if escalation.level == 0 and has_backup else OFFICE_LEVEL
            notices = self._reassign(
                session, escalation, level, actor="system", note=f"advisor {user_id} unreachable"
            )
            staff = [str(i) for i in self.config.staff.staff_ids]
            warning = Reply(
                f"⚠️ 法律顾问（id {user_id}）收不到机器人消息（可能屏蔽了机器人），咨询 #{escalation_id} 已转交。"
            )
            return notices + [Notice(user_id=s, reply=warning) for s in staff]

    # --- villager side --------------------------------------------------------------------
    def open_thread(self, session: Session, villager: Villager) -> Escalation | None:
        """Return the open escalation the villager's next message belongs to, or None."""
        assert villager.id is not None
        escalation = repo.open_escalation_for_villager(session=session, villager_id=villager.id)
        if (
            escalation is None
            or not escalation.thread_open
            or escalation.state not in esc_repo.ACTIVE_STATES
            or self.clock() - as_utc(escalation.created_at) > FOLLOW_UP_WINDOW
        ):
            return None
        if escalation.state == EscalationState.ANSWERED and escalation.id is not None:
            answered = esc_repo.last_answer_at(session=session, escalation_id=escalation.id)
            window = timedelta(hours=self.config.conversation.thread_hours)
            if answered is not None and self.clock() - as_utc(answered) > window:
                return None  # answered and time to follow up has passed: a new question is new
        return escalation

    def follow_up(
        self,
        session: Session,
        villager: Villager,
        consultation: Consultation,
        escalation: Escalation,
    ) -> Outcome:
        """Route a villager's message inside an open escalation (see `open_thread`) to its advisor."""
        assert escalation.id is not None
        esc_repo.add_turn(
            session=session,
            escalation_id=escalation.id,
            author="villager",
            actor=villager.label,
            text=consultation.raw_text,
            now=self.clock(),
        )
        note = Reply(
            texts.FOLLOW_UP_FOR_ADVISOR.format(
                id=escalation.id, text=mask_numbers(consultation.raw_text)[:1500]
            )
        )
        notices = tuple(
            Notice(user_id=r, reply=note, escalation_id=escalation.id)
            for r in self._assignees(escalation)
        )
        reply = Reply(
            texts.FOLLOW_UP_SENT,
            (
                (
                    Button(
                        texts.BUTTON_NEW_QUESTION,
                        actions.encode(actions.THREAD, "new", escalation.id),
                    ),
                ),
            ),
        )
        return Outcome(
            (reply,), notices, consultation_id=consultation.id, decision=consultation.decision
        )

    def villager_action(self, session: Session, villager: Villager, arg: str) -> Outcome:
        """Handle a villager's button on an escalation: new question, rating, phone consent."""
        verb, _, rest = arg.partition(":")
        raw_id, _, value = rest.partition(":")
        escalation = (
            esc_repo.get_escalation(session=session, escalation_id=int(raw_id))
            if raw_id.isdigit()
            else None
        )
        if escalation is None or escalation.villager_id != villager.id:
            return Outcome((Reply(texts.CHOICE_EXPIRED),))
        if verb == "new":
            escalation.thread_open = False
            session.add(escalation)
            return Outcome((Reply(texts.NEW_QUESTION),))
        if verb == "fb" and value in ("y", "n"):
            assert villager.id is not None
            repo.record_feedback(
                session=session,
                consultation_id=escalation.consultation_id,
                villager_id=villager.id,
                helpful=value == "y",
                target="advisor",
            )
            return Outcome((Reply(texts.ADVISOR_FEEDBACK_THANKS),))
        if verb == "phone" and value in ("y", "n"):
            if value == "n":
                return Outcome((Reply(texts.PHONE_DECLINED),))
            villager.phone_consent_at = self.clock()
            session.add(villager)
            if villager.phone:
                return self._phone_to_advisor(escalation, villager.phone)
            if villager.channel == "telegram":
                return Outcome((Reply(texts.SEND_CONTACT, request_contact=True),))
            return Outcome((Reply(texts.TYPE_PHONE),))  # no contact button: type the number
        return Outcome((Reply(texts.CHOICE_EXPIRED),))

    def close_for_forgotten(self, session: Session, villager: Villager) -> tuple[Notice, ...]:
        """Close a villager's pending escalations before /forget, telling each advisor why."""
        assert villager.id is not None
        notices: list[Notice] = []
        now = self.clock()
        for escalation in esc_repo.escalations_of_villager(
            session=session, villager_id=villager.id
        ):
            if escalation.state in (EscalationState.CLOSED,):
                continue
            esc_repo.set_state(
                session=session,
                escalation=escalation,
                state=EscalationState.CLOSED,
                actor="villager",
                now=now,
                note="forgotten",
            )
            if escalation.advisor_id:
                text = texts.ESCALATION_FORGOTTEN.format(id=escalation.id)
                notices.append(Notice(escalation.advisor_id, Reply(text)))
        return tuple(notices)

    def share_phone(self, session: Session, villager: Villager, phone: str) -> Outcome:
        """Store the phone number a villager shared and pass it to the advisor of the call."""
        assert villager.id is not None
        villager.phone = phone[:32]
        villager.phone_consent_at = villager.phone_consent_at or self.clock()
        session.add(villager)
        escalation = repo.open_escalation_for_villager(session=session, villager_id=villager.id)
        if escalation is None or not escalation.needs_call:
            return Outcome((Reply(texts.PHONE_THANKS),))
        return self._phone_to_advisor(escalation, villager.phone)

    def _phone_to_advisor(self, escalation: Escalation, phone: str) -> Outcome:
        note = Reply(texts.PHONE_FOR_ADVISOR.format(id=escalation.id, phone=phone))
        notices = tuple(Notice(user_id=r, reply=note) for r in self._assignees(escalation))
        return Outcome((Reply(texts.PHONE_THANKS),), notices)

    def inbox(self, sender: Sender) -> Outcome:
        """Return advisor answers not yet shown to a villager (the console polls this)."""
        with self.db.session() as session:
            villager = repo.get_villager(
                session=session, channel=sender.channel, channel_user_id=sender.user_id
            )
            if villager is None or villager.id is None:
                return Outcome()
            replies = []
            for turn in esc_repo.undelivered_turns(session=session, villager_id=villager.id):
                escalation = esc_repo.get_escalation(
                    session=session, escalation_id=turn.escalation_id
                )
                title = self._title(turn.actor, escalation.village_code if escalation else None)
                replies.append(
                    Reply(
                        texts.ADVISOR_ANSWER.format(title=title, text=turn.text),
                        (
                            (
                                Button(
                                    texts.BUTTON_ADVISOR_GOOD,
                                    actions.encode(actions.THREAD, "fb", turn.escalation_id, "y"),
                                ),
                                Button(
                                    texts.BUTTON_ADVISOR_BAD,
                                    actions.encode(actions.THREAD, "fb", turn.escalation_id, "n"),
                                ),
                            ),
                            (
                                Button(
                                    texts.BUTTON_NEW_QUESTION,
                                    actions.encode(actions.THREAD, "new", turn.escalation_id),
                                ),
                            ),
                        ),
                    )
                )
                turn.delivered_at = self.clock()
                session.add(turn)
        return Outcome(tuple(replies))

    # --- SLA ------------------------------------------------------------------------------
    def sweep(self) -> list[Notice]:
        """Return the reminders, held cards and failovers that are due now, marking them done."""
        now = self.clock()
        quiet = self._quiet(now)
        sla = self.config.sla
        notices: list[Notice] = []
        with self.db.session() as session:
            for escalation in esc_repo.sla_candidates(session=session):
                if quiet and not escalation.urgent:
                    continue
                age = now - as_utc(escalation.created_at)
                if escalation.urgent and age >= timedelta(minutes=sla.urgent_minutes):
                    notices += self._urgent_alarm(session, escalation, age)
                if escalation.notified_at is None:
                    escalation.notified_at = now
                    session.add(escalation)
                    card = self.card(session, escalation)
                    notices += [
                        Notice(user_id=r, reply=card, escalation_id=escalation.id)
                        for r in self._assignees(escalation)
                    ]
                elif escalation.level < OFFICE_LEVEL and age >= timedelta(hours=sla.office_hours):
                    notices += self._reassign(session, escalation, OFFICE_LEVEL, actor="sla")
                elif (
                    escalation.level == 0
                    and age >= timedelta(hours=sla.backup_hours)
                    and self._backup(escalation)
                ):
                    notices += self._reassign(session, escalation, 1, actor="sla")
                elif escalation.reminded_at is None and age >= timedelta(hours=sla.remind_hours):
                    escalation.reminded_at = now
                    session.add(escalation)
                    village = self.config.village(escalation.village_code)
                    reminder = Reply(
                        texts.REMINDER.format(
                            id=escalation.id,
                            village=village.name if village else "",
                            hours=int(age.total_seconds() // 3600),
                        )
                    )
                    notices += [
                        Notice(user_id=r, reply=reminder) for r in self._assignees(escalation)
                    ]
        return notices

    def _urgent_alarm(
        self, session: Session, escalation: Escalation, age: timedelta
    ) -> list[Notice]:
        """Alert the office and every staff member, once, about an unclaimed urgent escalation."""
        assert escalation.id is not None
        if escalation.state != EscalationState.OPEN or escalation.first_response_at is not None:
            return []
        if esc_repo.has_event(session=session, escalation_id=escalation.id, note=URGENT_ALARM):
            return []
        repo.add_escalation_event(
            session=session,
            escalation_id=escalation.id,
            from_state=escalation.state,
            to_state=escalation.state,
            actor="sla",
            note=URGENT_ALARM,
            at=self.clock(),
        )
        note = texts.CARD_URGENT_UNCLAIMED.format(minutes=int(age.total_seconds() // 60))
        card = self.card(session, escalation, note=note)
        staff = self.config.staff
        people = [*self.office_ids(), *map(str, (*staff.staff_ids, *staff.admin_ids))]
        return [
            Notice(user_id=p, reply=card, escalation_id=escalation.id)
            for p in dict.fromkeys(people)
        ]

    def _backup(self, escalation: Escalation) -> str | None:
        village = self.config.village(escalation.village_code)
        return str(village.backup_advisor_id) if village and village.backup_advisor_id else None

    def _reassign(
        self, session: Session, escalation: Escalation, level: int, *, actor: str, note: str = ""
    ) -> list[Notice]:
        now = self.clock()
        previous = self._assignees(escalation)
        escalation.level = level
        escalation.advisor_id = (
            self._backup(escalation)
            if level == 1
            else next(iter(self.office_ids()), escalation.advisor_id)
        )
        escalation.assigned_at = now
        escalation.reminded_at = now
        escalation.notified_at = now
        if escalation.state == EscalationState.CLAIMED:
            escalation.state = EscalationState.OPEN
        session.add(escalation)
        assert escalation.id is not None
        repo.add_escalation_event(
            session=session,
            escalation_id=escalation.id,
            from_state=EscalationState.REASSIGNED,
            to_state=escalation.state,
            actor=actor,
            note=note or f"level {level}",
        )
        source = "村法律顾问" if level == 1 else "法律顾问"
        card = self.card(session, escalation, note=texts.CARD_REASSIGNED.format(source=source))
        target = "后备法律顾问" if level == 1 else self.config.justice_office.name
        away = Reply(texts.REASSIGNED_AWAY.format(id=escalation.id, target=target))
        notices = [
            Notice(user_id=r, reply=card, escalation_id=escalation.id)
            for r in self._assignees(escalation)
        ]
        return notices + [
            Notice(user_id=p, reply=away) for p in previous if p not in self._assignees(escalation)
        ]


@dataclass(frozen=True, slots=True)
class EscalationView:
    """One pending escalation as the console lists it (texts masked as on the card)."""

    id: int
    village: str
    state: str
    state_name: str
    urgent: bool
    needs_call: bool
    hours: float
    badge: str  # urgent | urgent_overdue | overdue | due | answered
    due_at: datetime
    card: str


def guesses(consultation: Consultation | None) -> list[tuple[str, float]]:
    """Return the matcher's stored candidates of a consultation as (faq id, score), best first."""
    if consultation is None or not consultation.candidates:
        return []
    try:
        data = json.loads(consultation.candidates)
    except ValueError:
        return []
    return [
        (str(item[0]), float(item[1]))
        for item in data
        if isinstance(item, list) and len(item) == 2
    ]
