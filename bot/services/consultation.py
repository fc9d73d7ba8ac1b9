"""The consultation service: every use case of the conversation, for any channel.

Handlers (Telegram, console) call these methods and render the `Outcome`; the service calls
`knowledge` (matching, triage) and `storage` (one session per call). It never imports telegram.

Exceptions:

    ConsultError            base class of what the service refuses
    └── UnknownAction       a button/callback that is malformed, expired or not the sender's
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlmodel import Session

from bot import texts
from bot.config import Config, Village
from bot.services import actions, replies
from bot.services.drafts import DraftError, DraftService
from bot.services.escalations import EscalationService, guesses
from bot.services.outcomes import Notice, Outcome, Sender
from bot.services.privacy import find_mobile, mask_numbers
from bot.services.replies import Button, Reply
from bot.services.text_hygiene import clean_text
from knowledge.laws import LawLibrary
from knowledge.matcher import Matcher, MatchResult
from knowledge.models import Entry, KnowledgeBase
from knowledge.triage import detect_risk
from knowledge.triage_semantic import SemanticTriage
from storage import repositories as repo
from storage.clock import as_utc, utcnow
from storage.db import Database
from storage.models import Consultation, Decision, DraftKind, Villager

__all__ = [
    "ConsultError",
    "ConsultationService",
    "Notice",
    "Outcome",
    "Sender",
    "UnknownAction",
]

logger = logging.getLogger(__name__)

MAX_STORED_CHARS = 20_000
CHOICE_WINDOW = timedelta(hours=2)
# A short message this soon after one that got only a list is read together with it.
FRAGMENT_WINDOW = timedelta(seconds=90)
FRAGMENT_MAX_CHARS = 30
MAX_MERGED_CHARS = 300
PENDING_ESCALATION_WINDOW = timedelta(hours=1)


class ConsultError(Exception):
    """The service refuses a request; the message is for logs, not for villagers."""


# A candidate scoring at least this share of the suggest threshold names the topic well enough
# for its general guidance (the entries themselves are too uncertain to list).
GUIDANCE_SHARE = 0.5
# The terminal is one person at the keyboard (or a script of theirs): nothing to pace.
UNPACED_CHANNELS = ("console",)
# Messages the pace limit holds back do not count against the pace.
HELD = (Decision.THROTTLED, Decision.RELEASED)


class UnknownAction(ConsultError):
    """A button action that is malformed, expired, or belongs to someone else."""


@dataclass
class ConsultationService:
    """Use cases of the villager conversation."""

    config: Config
    kb: KnowledgeBase
    matcher: Matcher
    db: Database
    clock: Callable[[], datetime] = utcnow
    laws: LawLibrary | None = None
    kb_source: Callable[[Config], KnowledgeBase] | None = None  # reloads the KB after approvals
    triage_examples: SemanticTriage | None = None  # the meaning-based backstop (semantic mode)
    _match_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    escalations: EscalationService = field(init=False)

    drafts: DraftService = field(init=False)

    def __post_init__(self) -> None:
        self.escalations = EscalationService(
            config=self.config, db=self.db, kb=self.kb, clock=lambda: self.clock()
        )
        self.drafts = DraftService(config=self.config, db=self.db, clock=lambda: self.clock())

    def reload_knowledge(self, kb: KnowledgeBase) -> None:
        """Swap in a reloaded KB (approved drafts) and a matcher rebuilt for it, without a restart."""
        matcher = self.matcher.with_kb(kb)
        with self._match_lock:
            self.kb, self.matcher = kb, matcher
            self.escalations.kb = kb

    def refresh_knowledge(self) -> bool:
        """Reload the KB from its source; rebuild the matcher only when it changed."""
        if self.kb_source is None:
            return False
        kb = self.kb_source(self.config)
        if kb.fingerprint == self.kb.fingerprint:
            return False
        self.reload_knowledge(kb)
        return True

    @classmethod
    def create(
        cls,
        config: Config,
        kb: KnowledgeBase,
        matcher: Matcher,
        db: Database,
        *,
        kb_source: Callable[[Config], KnowledgeBase] | None = None,
    ) -> ConsultationService:
        """Build the service with the configured (or shipped) law texts."""
        laws_dir = config.laws_path()
        laws = LawLibrary(laws_dir) if laws_dir.is_dir() else None
        examples = SemanticTriage.load() if matcher.semantic else None
        return cls(
            config=config, kb=kb, matcher=matcher, db=db, laws=laws, kb_source=kb_source,
            triage_examples=examples,
        )  # fmt: skip

    # --- start, village, help -----------------------------------------------------------------

    def command(self, sender: Sender, name: str, arg: str = "") -> Outcome:
        """Carry out a villager command (`texts.COMMAND_MENU`) typed on any channel."""
        calls: dict[str, Callable[[], Outcome]] = {
            "start": lambda: self.start(sender, arg or None),
            "help": lambda: self.help(sender),
            "topics": lambda: self.topics(sender),
            "village": lambda: self.village_prompt(sender),
            "elder": lambda: self.toggle_elder(sender),
            "subscribe": lambda: self.set_subscription(sender, subscribed=True),
            "unsubscribe": lambda: self.set_subscription(sender, subscribed=False),
            "mydata": lambda: self.my_data(sender),
            "forget": lambda: self.forget_prompt(sender),
        }
        call = calls.get(name)
        return call() if call is not None else self.unknown_command(sender)

    def start(self, sender: Sender, payload: str | None = None) -> Outcome:
        """Greet, explain what is recorded, and bind the village (from a deep link or a choice)."""
        with self.db.session() as session:
            villager = self._villager(session, sender)
            if villager.consent_at is None:
                villager.consent_at = self.clock()
            greeting = Reply(
                "\n\n".join(
                    (
                        texts.WELCOME.format(town=self.config.town.name),
                        texts.PRIVACY_NOTE.format(days=self.config.privacy.retention_days),
                    )
                ),
                ((Button(texts.BUTTON_ELDER, actions.encode(actions.ELDER, "on")),),),
            )
            village = self.config.village((payload or "").strip().lower())
            if village is not None:
                villager.village_code = village.code
                return Outcome((greeting, Reply(texts.VILLAGE_SET.format(village=village.name))))
            return Outcome((greeting, self._village_prompt(texts.ASK_VILLAGE)))

    def village_prompt(self, sender: Sender) -> Outcome:
        """Offer the villages to choose from (/village)."""
        with self.db.session() as session:
            self._villager(session, sender)
        return Outcome((self._village_prompt(texts.ASK_VILLAGE),))

    def help(self, sender: Sender) -> Outcome:
        """Explain how to use the bot."""
        return Outcome((Reply(texts.HELP),))

    def unknown_command(self, sender: Sender) -> Outcome:
        """Answer a command the bot does not know."""
        return Outcome((Reply(texts.UNKNOWN_COMMAND),))

    # --- asking -------------------------------------------------------------------------------

    def ask(
        self, sender: Sender, text: str, *, update_key: str | None = None, held: bool = False
    ) -> Outcome:
        """Answer a question: triage, match, record, and escalate what cannot be answered.

        `held` marks a message the pace limit held back and now releases (no second hold).
        """
        text = clean_text(text)[:MAX_STORED_CHARS]
        word = replies.word_command(text)
        if word is not None:  # a command typed as words: not a consultation
            with self.db.session() as session:
                seen = self._seen_update(session, update_key)
            return seen if seen is not None else self.command(sender, word)
        with self.db.session() as session:
            seen = self._seen_update(session, update_key)
            if seen is not None:
                return seen
            villager = self._villager(session, sender)
            paced = not held and sender.channel not in UNPACED_CHANNELS
            throttled = self._throttle(session, villager, text, update_key) if paced else None
            if throttled is not None:
                return throttled
            if villager.phone_consent_at is not None and not villager.phone:
                typed = find_mobile(text)
                if typed is not None:  # the number they agreed to share, typed (no contact button)
                    self._store(session, villager, text, Decision.FOLLOW_UP, update_key=update_key)
                    return self.escalations.share_phone(session, villager, typed)
            choice = replies.numbered_choice(text)
            if choice is not None:
                picked = self._numbered_pick(session, villager, choice)
                if picked is not None:
                    return picked
            if replies.is_thanks(text):
                return self._record_simple(
                    session, villager, text, Decision.CLARIFY, update_key, Reply(texts.CLOSING)
                )
            if replies.starts_over(text):
                thread = self.escalations.open_thread(session, villager)
                if thread is not None:
                    thread.thread_open = False
                    session.add(thread)
                return self._record_simple(
                    session,
                    villager,
                    text,
                    Decision.CLARIFY,
                    update_key,
                    Reply(texts.NEW_QUESTION),
                )
            if replies.rejects_shown(text):
                rejected = self._not_this(session, villager, text, update_key)
                if rejected is not None:
                    return rejected
                # A bare 不是/不对 with nothing shown to reject carries no question to match.
                return self._record_simple(
                    session, villager, text, Decision.CLARIFY, update_key, Reply(texts.CLARIFY)
                )
            if not text.strip():
                return self._record_simple(
                    session, villager, text, Decision.CLARIFY, update_key, Reply(texts.EMPTY)
                )
            fragment_of = self._fragment_of(session, villager, text)
            risk = self._risk(text, fragment_of)
            if risk is not None:
                return self._urgent(session, villager, text, risk, update_key)
            thread = self.escalations.open_thread(session, villager)
            if thread is None and replies.asks_for_person(text):
                return self._person_requested(session, villager, text, update_key)
            started = time.perf_counter()
            with self._match_lock:
                result = self.matcher.match(text)
                if fragment_of is not None:  # "我借了三万给表哥" + "他打了条子的": one question
                    merged = self.matcher.match(f"{fragment_of}，{text}")
                    if merged.decision in ("answer", "confirm") or merged.score > result.score:
                        result = merged
            latency = (time.perf_counter() - started) * 1000
            if thread is not None and result.decision == "suggest" and replies.is_question(text):
                # A question of its own inside a thread: show what the KB has, and let the
                # advisor see it in the thread too.
                outcome = self._respond(session, villager, text, result, latency, update_key)
                stored = repo.get_consultation(
                    session=session, consultation_id=outcome.consultation_id or 0
                )
                assert stored is not None
                sent = self.escalations.follow_up(session, villager, stored, thread)
                return replace(
                    outcome,
                    replies=(*outcome.replies, Reply(texts.THREAD_ALSO_SENT)),
                    notices=(*outcome.notices, *sent.notices),
                )
            if thread is not None and result.decision not in ("answer", "confirm"):
                consultation = self._store(
                    session, villager, text, Decision.FOLLOW_UP, update_key=update_key
                )
                return self.escalations.follow_up(session, villager, consultation, thread)
            # A new question the KB answers is answered even while an advisor thread is open.
            outcome = self._respond(session, villager, text, result, latency, update_key)
            if thread is None:
                return outcome
            return replace(outcome, replies=(*outcome.replies, Reply(texts.THREAD_STILL_OPEN)))

    def _person_requested(
        self, session: Session, villager: Villager, text: str, update_key: str | None
    ) -> Outcome:
        consultation = self._store(
            session, villager, text, Decision.ESCALATE, update_key=update_key
        )
        return self._escalate_by_request(session, villager, consultation)

    def _escalate_by_request(
        self, session: Session, villager: Villager, consultation: Consultation
    ) -> Outcome:
        """Route a consultation the villager asked a person for (asking the village if unknown)."""
        village = self.config.village(villager.village_code)
        if village is None:
            consultation.decision = Decision.ESCALATE
            session.add(consultation)
            return Outcome(
                (self._village_prompt(texts.ESCALATED_NO_VILLAGE),),
                consultation_id=consultation.id,
            )
        notices = self._open_escalation(
            session, consultation, village, reason="user", urgent=False
        )
        reply = replies.escalated_reply(village, hours=self.config.sla.remind_hours)
        return Outcome(
            (reply,), notices, consultation_id=consultation.id, decision=Decision.ESCALATE
        )

    def unsupported(
        self, sender: Sender, kind: str, *, update_key: str | None = None, caption: str = ""
    ) -> Outcome:
        """Record a voice note, photo, sticker... and say what the bot can read."""
        caption = clean_text(caption)[:MAX_STORED_CHARS]
        with self.db.session() as session:
            seen = self._seen_update(session, update_key)
            if seen is not None:
                return seen
            villager = self._villager(session, sender)
            reply = Reply(texts.UNSUPPORTED.get(kind, texts.UNSUPPORTED["other"]))
            consultation = self._store(
                session, villager, caption, Decision.UNSUPPORTED, update_key=update_key, kind=kind
            )
            return Outcome(
                (reply,), consultation_id=consultation.id, decision=Decision.UNSUPPORTED
            )

    # --- redelivery (exactly-once replies; see docs/reliability.md) ----------------------------

    def mark_replied(self, update_key: str) -> None:
        """Record that the reply to a channel update was handed over (after sending it)."""
        with self.db.session() as session:
            repo.mark_replied(session=session, update_key=update_key, at=self.clock())

    def _seen_update(self, session: Session, update_key: str | None) -> Outcome | None:
        """The stored reply to a channel update seen before (see `_redeliver`), else None."""
        if not update_key:
            return None
        recorded = repo.consultation_by_update_key(session=session, update_key=update_key)
        return None if recorded is None else self._redeliver(session, recorded)

    def _redeliver(self, session: Session, consultation: Consultation) -> Outcome:
        """A channel update seen before: nothing when it was answered, else the reply again.

        The consultation was committed but the process stopped before the reply went out (or
        before `mark_replied`): re-render the reply from the stored decision, FAQ id and
        candidates, and re-send an advisor card whose delivery was never recorded. Nothing is
        stored again, no escalation is opened twice.
        """
        if consultation.replied_at is not None:
            return Outcome(duplicate=True)
        villager = session.get(Villager, consultation.villager_id)
        assert villager is not None
        assert consultation.id is not None
        logger.info(
            "redelivered update for consultation %s: not answered yet, replying again",
            consultation.id,
        )
        out = self._rerender(session, villager, consultation)
        notices: tuple[Notice, ...] = ()
        escalation = repo.escalation_of_consultation(
            session=session, consultation_id=consultation.id
        )
        if (
            escalation is not None
            and escalation.id is not None
            and escalation.notified_at is not None
            and not repo.card_recorded(session=session, escalation_id=escalation.id)
        ):
            card = self.escalations.card(session, escalation)
            recipients = [escalation.advisor_id] if escalation.advisor_id else []
            if escalation.urgent:
                recipients += [i for i in self.escalations.office_ids() if i not in recipients]
            notices = tuple(
                Notice(user_id=r, reply=card, escalation_id=escalation.id) for r in recipients
            )
        return Outcome(
            out, notices, consultation_id=consultation.id, decision=consultation.decision
        )

    def _rerender(
        self, session: Session, villager: Villager, consultation: Consultation
    ) -> tuple[Reply, ...]:
        assert consultation.id is not None
        cid, elder, laws = consultation.id, villager.elder_mode, self.laws is not None
        decision = consultation.decision
        entry = self.kb.entry(consultation.faq_id or "")
        village = self.config.village(consultation.village_code or villager.village_code)
        if decision in (Decision.ANSWER, Decision.CHOICE) and entry is not None:
            return (
                replies.answer_reply(entry, consultation_id=cid, elder=elder, laws_available=laws),
            )
        if decision == Decision.CONFIRM and entry is not None:
            others = [e for i in _candidate_ids(consultation)[1:3] if (e := self.kb.entry(i))]
            return (
                replies.confirm_reply(
                    entry, others, consultation_id=cid, elder=elder, laws_available=laws
                ),
            )
        if decision == Decision.SUGGEST:
            entries = [e for i in _candidate_ids(consultation) if (e := self.kb.entry(i))]
            if entries:
                return (replies.suggest_reply(entries, consultation_id=cid, elder=elder),)
            return (Reply(texts.CLARIFY),)
        if decision == Decision.CLARIFY:
            return (Reply(texts.CLARIFY if consultation.raw_text.strip() else texts.EMPTY),)
        if decision == Decision.URGENT:
            category = detect_risk(consultation.raw_text, self.kb.triage)
            out: list[Reply] = []
            if category is not None:
                out.append(replies.urgent_reply(category, village))
            if entry is not None:
                out.append(
                    replies.answer_reply(
                        entry, consultation_id=cid, elder=elder, laws_available=laws
                    )
                )
            return tuple(out) or (Reply(texts.BUSY),)
        if decision == Decision.ESCALATE:
            if village is None:
                return (self._village_prompt(texts.ESCALATED_NO_VILLAGE),)
            return (replies.escalated_reply(village, hours=self.config.sla.remind_hours),)
        if decision == Decision.UNSUPPORTED:
            return (Reply(texts.UNSUPPORTED.get(consultation.kind, texts.UNSUPPORTED["other"])),)
        if decision == Decision.FOLLOW_UP:
            assert villager.id is not None
            escalation = repo.open_escalation_for_villager(
                session=session, villager_id=villager.id
            )
            buttons = (
                (
                    (
                        Button(
                            texts.BUTTON_NEW_QUESTION,
                            actions.encode(actions.THREAD, "new", escalation.id),
                        ),
                    ),
                )
                if escalation is not None
                else ()
            )
            return (Reply(texts.FOLLOW_UP_SENT, buttons),)
        if decision in HELD:
            return ()
        return (Reply(texts.CLARIFY),)

    # --- buttons ------------------------------------------------------------------------------

    def act(self, sender: Sender, action: str) -> Outcome:
        """Carry out a button's action; a malformed or foreign action gets a polite refusal."""
        action = clean_text(action)
        name, arg = actions.decode(action)
        if name == actions.ADVISOR_CARD:
            return self.escalations.advisor_action(sender, arg)
        handler = self._actions().get(name)
        if handler is None:
            return Outcome((Reply(texts.CHOICE_EXPIRED),))
        try:
            with self.db.session() as session:
                villager = self._villager(session, sender)
                return handler(session, villager, arg)
        except UnknownAction as exc:
            logger.info("refused action %r from %s: %s", action[:64], sender.channel, exc)
            return Outcome((Reply(texts.CHOICE_EXPIRED),))

    def _actions(self) -> dict[str, Callable[[Session, Villager, str], Outcome]]:
        return {
            actions.VILLAGE: self._choose_village,
            actions.FEEDBACK: self._feedback,
            actions.FEEDBACK_REASON: self._feedback_reason,
            actions.PICK: self._pick,
            actions.ADVISOR: self._to_advisor,
            actions.MORE: self._more,
            actions.LAW: self._law,
            actions.TOPIC: self._topic,
            actions.FAQ: self._browse_pick,
            actions.ELDER: self._elder_action,
            actions.FORGET: self._forget_action,
            actions.THREAD: self.escalations.villager_action,
        }

    def _choose_village(self, session: Session, villager: Villager, code: str) -> Outcome:
        village = self.config.village(code)
        if village is None:
            return Outcome((self._village_prompt(texts.VILLAGE_UNKNOWN),))
        villager.village_code = village.code
        session.add(villager)
        out = [Reply(texts.VILLAGE_SET.format(village=village.name))]
        pending = self._pending_escalation(session, villager)
        if pending is not None:
            pending.village_code = village.code
            session.add(pending)
            notices = self._open_escalation(
                session, pending, village, reason="unmatched", urgent=False
            )
            out = [
                Reply(texts.VILLAGE_SET.format(village=village.name).split("。")[0] + "。"),
                replies.escalated_reply(village, hours=self.config.sla.remind_hours),
            ]
            return Outcome(tuple(out), notices)
        return Outcome(tuple(out))

    def _feedback(self, session: Session, villager: Villager, arg: str) -> Outcome:
        cid, _, verdict = arg.partition(":")
        consultation = self._own_consultation(session, villager, cid)
        if verdict not in ("y", "n"):
            raise UnknownAction("bad verdict")
        assert consultation.id is not None
        assert villager.id is not None
        repo.record_feedback(
            session=session,
            consultation_id=consultation.id,
            villager_id=villager.id,
            helpful=verdict == "y",
        )
        if verdict == "y":
            shown = self.kb.entry(consultation.faq_id or "")
            if consultation.decision == Decision.CONFIRM and shown is not None:
                self.drafts.propose_phrasing(
                    session, kind=DraftKind.VARIANT, entry=shown, text=consultation.raw_text,
                    consultation_id=consultation.id,
                )  # fmt: skip
            return Outcome((Reply(texts.THANKS_HELPFUL),), consultation_id=consultation.id)
        reasons = tuple(
            (Button(label, actions.encode(actions.FEEDBACK_REASON, consultation.id, key)),)
            for key, label in texts.REASONS.items()
        )
        return Outcome((Reply(texts.ASK_REASON, reasons),), consultation_id=consultation.id)

    def _feedback_reason(self, session: Session, villager: Villager, arg: str) -> Outcome:
        cid, _, reason = arg.partition(":")
        consultation = self._own_consultation(session, villager, cid)
        if reason not in texts.REASONS:
            raise UnknownAction("bad reason")
        assert consultation.id is not None
        assert villager.id is not None
        repo.record_feedback(
            session=session,
            consultation_id=consultation.id,
            villager_id=villager.id,
            helpful=False,
            reason=reason,
        )
        row = ((Button(texts.BUTTON_ADVISOR, actions.encode(actions.ADVISOR, consultation.id)),),)
        return Outcome((Reply(texts.THANKS_REASON, row),), consultation_id=consultation.id)

    def _pick(self, session: Session, villager: Villager, arg: str) -> Outcome:
        cid, _, index = arg.partition(":")
        consultation = self._own_consultation(session, villager, cid)
        candidates = _candidate_ids(consultation)
        if not index.isdigit() or int(index) >= len(candidates):
            raise UnknownAction("no such suggestion")
        entry = self.kb.entry(candidates[int(index)])
        if entry is None:
            raise UnknownAction("entry no longer in the KB")
        return self._answer_choice(session, villager, entry, source=consultation)

    def _browse_pick(self, session: Session, villager: Villager, faq_id: str) -> Outcome:
        entry = self.kb.entry(faq_id)
        if entry is None:
            raise UnknownAction("no such entry")
        return self._answer_choice(session, villager, entry, source=None)

    def _learn_from_choice(self, session: Session, entry: Entry, source: Consultation) -> None:
        """A pick from a list or a confirm's alternatives teaches a phrasing (and a not-for)."""
        if source.decision not in (Decision.SUGGEST, Decision.CONFIRM):
            return
        asked = source
        if replies.rejects_shown(source.raw_text) and source.id is not None:
            # The list came after 不是这个: the wording to learn is the question before it.
            earlier = repo.recent_consultations(
                session=session, villager_id=source.villager_id, limit=1, before_id=source.id
            )
            if not earlier:
                return
            asked = earlier[0]
        self.drafts.propose_phrasing(
            session, kind=DraftKind.VARIANT, entry=entry, text=asked.raw_text,
            consultation_id=asked.id,
        )  # fmt: skip
        shown = self.kb.entry(asked.faq_id or "") if asked.decision == Decision.CONFIRM else None
        if shown is not None and shown.id != entry.id:
            self.drafts.propose_phrasing(
                session, kind=DraftKind.NOT_FOR, entry=shown, text=asked.raw_text,
                consultation_id=asked.id,
            )  # fmt: skip

    def _answer_choice(
        self, session: Session, villager: Villager, entry: Entry, *, source: Consultation | None
    ) -> Outcome:
        if source is not None:
            self._learn_from_choice(session, entry, source)
        consultation = self._store(
            session,
            villager,
            source.raw_text if source else entry.question,
            Decision.CHOICE,
            faq_id=entry.id,
            topic_key=entry.topic_key,
            score=1.0,
            kind="choice",
        )
        assert consultation.id is not None
        reply = replies.answer_reply(
            entry,
            consultation_id=consultation.id,
            elder=villager.elder_mode,
            laws_available=self.laws is not None,
        )
        return Outcome((reply,), consultation_id=consultation.id, decision=Decision.CHOICE)

    def _to_advisor(self, session: Session, villager: Villager, cid: str) -> Outcome:
        consultation = self._own_consultation(session, villager, cid)
        existing = repo.open_escalation_for_villager(
            session=session, villager_id=consultation.villager_id
        )
        if existing is not None and existing.consultation_id == consultation.id:
            return Outcome((Reply(texts.ESCALATED_AGAIN),), consultation_id=consultation.id)
        return self._escalate_by_request(session, villager, consultation)

    def _more(self, session: Session, villager: Villager, cid: str) -> Outcome:
        consultation = self._own_consultation(session, villager, cid)
        entry = self.kb.entry(consultation.faq_id or "")
        if entry is None or consultation.id is None:
            raise UnknownAction("no answer to expand")
        return Outcome(
            (
                replies.full_answer_reply(
                    entry, consultation_id=consultation.id, laws_available=self.laws is not None
                ),
            )
        )

    def _law(self, session: Session, villager: Villager, cid: str) -> Outcome:
        consultation = self._own_consultation(session, villager, cid)
        entry = self.kb.entry(consultation.faq_id or "")
        if entry is None or self.laws is None:
            return Outcome((Reply(texts.LAW_UNAVAILABLE),))
        parts = []
        for citation in entry.basis:
            body = self.laws.article(citation.law, citation.article)
            if body:
                parts.append(
                    texts.LAW_TEXT.format(
                        law=citation.law.removeprefix("中华人民共和国"),
                        article=citation.label,
                        text=body,
                    )
                )
        return Outcome((Reply("\n\n".join(parts) if parts else texts.LAW_UNAVAILABLE),))

    def _topic(self, session: Session, villager: Villager, key: str) -> Outcome:
        topic = self.kb.topic(key)
        if topic is None:
            return Outcome((Reply(texts.TOPIC_UNKNOWN),))
        limit = self.config.conversation.topic_questions
        popular = repo.popular_faq_ids(session=session, topic_key=key, limit=limit)
        ordered = [
            e for i in popular if (e := self.kb.entry(i)) is not None and e.topic_key == key
        ]
        ordered += [e for e in topic.entries if e not in ordered]
        return Outcome((replies.topic_reply(topic, ordered[:limit]),))

    def _elder_action(self, session: Session, villager: Villager, arg: str) -> Outcome:
        villager.elder_mode = arg != "off"
        session.add(villager)
        return Outcome((Reply(texts.ELDER_ON if villager.elder_mode else texts.ELDER_OFF),))

    def _forget_action(self, session: Session, villager: Villager, arg: str) -> Outcome:
        if arg != "y":
            return Outcome((Reply(texts.FORGET_CANCELLED),))
        notices = self.escalations.close_for_forgotten(session, villager)
        count = repo.forget_villager(now=self.clock(), session=session, villager=villager)
        return Outcome((Reply(texts.FORGOTTEN.format(count=count)),), notices)

    # --- settings and privacy -----------------------------------------------------------------

    def topics(self, sender: Sender) -> Outcome:
        """List the topics (/topics)."""
        return Outcome((replies.topics_reply(self.kb.topics),))

    def toggle_elder(self, sender: Sender) -> Outcome:
        """Switch elder mode on or off (/elder)."""
        with self.db.session() as session:
            villager = self._villager(session, sender)
            return self._elder_action(session, villager, "off" if villager.elder_mode else "on")

    def set_subscription(self, sender: Sender, *, subscribed: bool) -> Outcome:
        """Subscribe to or unsubscribe from publicity pushes."""
        with self.db.session() as session:
            villager = self._villager(session, sender)
            villager.subscribed = subscribed
            session.add(villager)
        return Outcome((Reply(texts.SUBSCRIBED if subscribed else texts.UNSUBSCRIBED),))

    def my_data(self, sender: Sender) -> Outcome:
        """Show what is stored about the sender (/mydata)."""
        with self.db.session() as session:
            villager = self._villager(session, sender)
            assert villager.id is not None
            counts = repo.villager_summary(session=session, villager_id=villager.id)
            village = self.config.village(villager.village_code)
            text = texts.MYDATA.format(
                village=village.name if village else texts.NOT_SET,
                subscribed=texts.YES if villager.subscribed else texts.NO,
                elder=texts.YES if villager.elder_mode else texts.NO,
                **counts,
            )
        return Outcome((Reply(text),))

    def forget_prompt(self, sender: Sender) -> Outcome:
        """Ask for confirmation before deleting the sender's records (/forget)."""
        buttons = (
            (
                Button(texts.BUTTON_FORGET_YES, actions.encode(actions.FORGET, "y")),
                Button(texts.BUTTON_FORGET_NO, actions.encode(actions.FORGET, "n")),
            ),
        )
        return Outcome((Reply(texts.FORGET_CONFIRM, buttons),))

    # --- advisors -----------------------------------------------------------------------------

    def advisor_command(self, sender: Sender, command: str, arg: str = "") -> Outcome:
        """Run an advisor command (/queue, /mine, /done, /stats_me, /reply); others are refused."""
        arg = clean_text(arg)[:MAX_STORED_CHARS]
        if not self.escalations.is_advisor(sender.user_id):
            logger.warning(
                "user %s on %s tried advisor command /%s", sender.user_id, sender.channel, command
            )
            return Outcome((Reply(texts.ADVISOR_ONLY),))
        esc = self.escalations
        if command == "queue":
            return esc.queue(sender)
        if command == "mine":
            return esc.queue(sender, mine=True)
        if command == "stats_me":
            return esc.stats_me(sender)
        number, _, rest = arg.strip().partition(" ")
        if command == "done":
            return (
                esc.done(sender, int(number))
                if number.isdigit()
                else Outcome((Reply(texts.DONE_USAGE),))
            )
        if command == "reply":
            if not number.isdigit():
                return Outcome((Reply(texts.REPLY_USAGE),))
            return esc.reply(sender, int(number), rest)
        return Outcome((Reply(texts.UNKNOWN_COMMAND),))

    def advisor_reply_to_card(
        self, sender: Sender, chat_id: str, message_id: int, text: str, card_text: str = ""
    ) -> Outcome | None:
        """Answer an escalation by replying to its card; None when it is no card or no advisor."""
        text = clean_text(text)[:MAX_STORED_CHARS]
        if not self.escalations.is_advisor(sender.user_id):
            return None
        return self.escalations.reply_to_card(sender, chat_id, message_id, text, card_text)

    def staff_drafts(self, sender: Sender, command: str, arg: str = "") -> Outcome:
        """Staff review of drafts in the bot: /drafts, /approve ID, /reject ID reason."""
        arg = clean_text(arg)[:MAX_STORED_CHARS]
        if not self._is_staff(sender):
            logger.warning(
                "user %s on %s tried staff command /%s", sender.user_id, sender.channel, command
            )
            return Outcome((Reply(texts.STAFF_ONLY),))
        number, _, rest = arg.strip().partition(" ")
        try:
            if command == "drafts":
                drafts = self.drafts.waiting()
                if not drafts:
                    return Outcome((Reply(texts.DRAFTS_EMPTY),))
                lines = [texts.DRAFTS_HEAD] + [
                    texts.DRAFT_LINE.format(
                        id=d.id,
                        kind=texts.DRAFT_KINDS.get(d.kind, d.kind),
                        topic=d.entry_id or d.topic_key or "?",
                        question=d.question[:40],
                    )
                    for d in drafts[:20]
                ]
                return Outcome((Reply("\n".join(lines)),))
            if not number.isdigit():
                return Outcome((Reply(texts.DRAFT_USAGE),))
            if command == "approve":
                entry_id = self.drafts.approve(int(number), actor=sender.user_id, kb=self.kb)
                self.refresh_knowledge()
                return Outcome((Reply(texts.DRAFT_APPROVED.format(id=number, entry=entry_id)),))
            if command == "reject":
                self.drafts.reject(int(number), reason=rest, actor=sender.user_id)
                return Outcome((Reply(texts.DRAFT_REJECTED.format(id=number)),))
        except DraftError as exc:
            return Outcome((Reply(str(exc)),))
        return Outcome((Reply(texts.UNKNOWN_COMMAND),))

    def _is_staff(self, sender: Sender) -> bool:
        return sender.user_id.isdigit() and self.config.is_staff(int(sender.user_id))

    def share_phone(self, sender: Sender, phone: str) -> Outcome:
        """Store a phone number the villager chose to share and pass it to the advisor."""
        with self.db.session() as session:
            villager = self._villager(session, sender)
            return self.escalations.share_phone(session, villager, phone)

    def inbox(self, sender: Sender) -> Outcome:
        """Return advisor answers the villager has not seen yet (console channel)."""
        return self.escalations.inbox(sender)

    # --- internals ----------------------------------------------------------------------------

    def _villager(self, session: Session, sender: Sender) -> Villager:
        return repo.get_or_create_villager(
            now=self.clock(),
            session=session,
            channel=sender.channel,
            channel_user_id=sender.user_id,
            chat_id=sender.chat_id,
        )

    def _village_prompt(self, text: str) -> Reply:
        if not self.config.villages:
            return Reply(texts.NO_VILLAGES)
        return Reply(text, replies.village_keyboard(self.config.villages))

    def _store(
        self,
        session: Session,
        villager: Villager,
        text: str,
        decision: str,
        *,
        update_key: str | None = None,
        kind: str = "text",
        normalized: str = "",
        faq_id: str | None = None,
        topic_key: str | None = None,
        score: float | None = None,
        candidates: str = "",
        latency_ms: float | None = None,
        urgent: bool = False,
    ) -> Consultation:
        assert villager.id is not None
        consultation = Consultation(
            villager_id=villager.id,
            channel=villager.channel,
            village_code=villager.village_code,
            kind=kind,
            raw_text=mask_numbers(text),
            normalized_text=mask_numbers(normalized),
            decision=decision,
            faq_id=faq_id,
            topic_key=topic_key,
            score=score,
            candidates=candidates,
            latency_ms=latency_ms,
            urgent=urgent,
            update_key=update_key,
            created_at=self.clock(),
        )
        repo.add_consultation(session=session, consultation=consultation)
        logger.info(
            "consultation %s decision=%s faq=%s village=%s channel=%s",
            consultation.id,
            decision,
            faq_id,
            villager.village_code,
            villager.channel,
        )
        logger.debug("consultation %s text=%s", consultation.id, mask_numbers(text[:200]))
        return consultation

    def _record_simple(
        self,
        session: Session,
        villager: Villager,
        text: str,
        decision: str,
        update_key: str | None,
        reply: Reply,
    ) -> Outcome:
        consultation = self._store(session, villager, text, decision, update_key=update_key)
        return Outcome((reply,), consultation_id=consultation.id, decision=decision)

    def _throttle(
        self, session: Session, villager: Villager, text: str, update_key: str | None
    ) -> Outcome | None:
        assert villager.id is not None
        limit = self.config.conversation.max_messages_per_minute
        since = self.clock() - timedelta(minutes=1)
        answered = repo.count_recent_consultations(
            session=session, villager_id=villager.id, since=since, excluding=HELD
        )
        held = repo.held_consultations(session=session, villager_id=villager.id, limit=1)
        if answered < limit and not held:
            return None
        consultation = self._store(
            session, villager, text, Decision.THROTTLED, update_key=update_key
        )
        # The first message held back gets the note; the rest wait quietly, in order.
        out = () if held else (Reply(texts.SLOW_DOWN),)
        return Outcome(out, consultation_id=consultation.id, decision=Decision.THROTTLED)

    def release_held(self, sender: Sender | None = None) -> list[Outcome]:
        """Answer messages held back by the pace limit, oldest first, as the pace allows.

        Each held message is answered as if just sent (triage, matching, escalation) in a new
        consultation; the held row is marked `released`. Each outcome's replies go to
        `outcome.held_for`; `sender` limits the release to one villager.
        """
        with self.db.session() as session:
            villager_id = None
            if sender is not None:
                villager_id = self._villager(session, sender).id
            held = [
                (c.id, Sender(v.channel, v.channel_user_id, v.chat_id))
                for c, v in repo.held_consultations(session=session, villager_id=villager_id)
            ]
        limit = self.config.conversation.max_messages_per_minute
        outcomes: list[Outcome] = []
        blocked: set[tuple[str, str]] = set()
        for cid, who in held:
            if (who.channel, who.user_id) in blocked:
                continue  # keep each villager's messages in order
            with self.db.session() as session:
                row = session.get(Consultation, cid)
                if row is None or row.decision != Decision.THROTTLED:
                    continue
                since = self.clock() - timedelta(minutes=1)
                answered = repo.count_recent_consultations(
                    session=session, villager_id=row.villager_id, since=since, excluding=HELD
                )
                if answered >= limit:
                    blocked.add((who.channel, who.user_id))
                    continue
                row.decision = Decision.RELEASED
                session.add(row)
                text = row.raw_text
            outcome = self.ask(who, text, held=True)
            outcomes.append(replace(outcome, held_for=who))
        return outcomes

    def _risk(self, text: str, fragment_of: str | None) -> str | None:
        """The urgent category of a message: the phrase rules first, then (semantic mode) the
        nearest labelled examples; a fragment is also read with the message before it."""
        category = detect_risk(text, self.kb.triage)
        if category is None and fragment_of is not None:
            category = detect_risk(f"{fragment_of}，{text}", self.kb.triage)
        if category is not None:
            return category.key
        if self.triage_examples is None:
            return None
        with self._match_lock:
            vector = self.matcher.embed_message(text)
        return None if vector is None else self.triage_examples.category(vector)

    def _fragment_of(self, session: Session, villager: Villager, text: str) -> str | None:
        """The previous message when this short one seems to continue it (sent right after a
        message that got only a list or a request for more), else None."""
        assert villager.id is not None
        if len(text) > FRAGMENT_MAX_CHARS:
            return None
        last = next(
            iter(repo.recent_consultations(session=session, villager_id=villager.id, limit=1)),
            None,
        )
        if last is None or last.decision not in (Decision.SUGGEST, Decision.CLARIFY):
            return None
        if self.clock() - as_utc(last.created_at) > FRAGMENT_WINDOW:
            return None
        previous = (last.raw_text or "").strip()
        if not previous or len(previous) + len(text) > MAX_MERGED_CHARS:
            return None
        return previous

    def _numbered_pick(self, session: Session, villager: Villager, choice: int) -> Outcome | None:
        assert villager.id is not None
        last = next(
            iter(repo.recent_consultations(session=session, villager_id=villager.id, limit=1)),
            None,
        )
        if last is None or last.decision not in (Decision.SUGGEST, Decision.CONFIRM):
            return None
        if last.id is None or self.clock() - as_utc(last.created_at) > CHOICE_WINDOW:
            return None
        if choice == 0:
            return self._to_advisor(session, villager, str(last.id))
        # A confirm shows candidate 1 as the answer and numbers the next two 1 and 2.
        candidates = _candidate_ids(last)
        if last.decision == Decision.CONFIRM:
            candidates = candidates[1:3]
        if not 1 <= choice <= len(candidates):
            return None
        entry = self.kb.entry(candidates[choice - 1])
        return (
            None if entry is None else self._answer_choice(session, villager, entry, source=last)
        )

    def _not_this(
        self, session: Session, villager: Villager, text: str, update_key: str | None
    ) -> Outcome | None:
        """不是这个: after a confirm show its alternatives; after a list, pass to the advisor."""
        assert villager.id is not None
        last = next(
            iter(repo.recent_consultations(session=session, villager_id=villager.id, limit=1)),
            None,
        )
        if last is None or last.id is None:
            return None
        if self.clock() - as_utc(last.created_at) > CHOICE_WINDOW:
            return None
        if last.decision == Decision.SUGGEST:
            return self._to_advisor(session, villager, str(last.id))
        if last.decision != Decision.CONFIRM:
            return None
        shown = self.kb.entry(last.faq_id or "")
        if shown is not None:
            self.drafts.propose_phrasing(
                session, kind=DraftKind.NOT_FOR, entry=shown, text=last.raw_text,
                consultation_id=last.id,
            )  # fmt: skip
        others = guesses(last)[1:3]
        entries = [e for faq_id, _ in others if (e := self.kb.entry(faq_id))]
        if not entries:
            return self._to_advisor(session, villager, str(last.id))
        consultation = self._store(
            session,
            villager,
            text,
            Decision.SUGGEST,
            update_key=update_key,
            topic_key=entries[0].topic_key,
            candidates=json.dumps([[faq_id, score] for faq_id, score in others]),
        )
        assert consultation.id is not None
        reply = replies.suggest_reply(
            entries,
            consultation_id=consultation.id,
            elder=villager.elder_mode,
            intro=texts.NOT_THIS_ALTERNATIVES,
        )
        return Outcome((reply,), consultation_id=consultation.id, decision=Decision.SUGGEST)

    def _urgent(
        self,
        session: Session,
        villager: Villager,
        text: str,
        category: str,
        update_key: str | None,
    ) -> Outcome:
        """Emergency numbers first and an urgent escalation; then the FAQ answer if there is one."""
        risk = next(c for c in self.kb.triage if c.key == category)
        with self._match_lock:
            result = self.matcher.match(text)
        entry = result.entry
        consultation = self._store(
            session,
            villager,
            text,
            Decision.URGENT,
            update_key=update_key,
            urgent=True,
            normalized=result.normalized,
            faq_id=entry.id if entry else None,
            topic_key=entry.topic_key if entry else None,
            score=result.score,
            candidates=json.dumps([[c.entry.id, round(c.score, 4)] for c in result.candidates]),
        )
        assert consultation.id is not None
        village = self.config.village(villager.village_code)
        notices = self._open_escalation(
            session, consultation, village, reason=f"triage:{category}"[:16], urgent=True
        )
        out = [replies.urgent_reply(risk, village)]
        if entry is not None:
            out.append(
                replies.answer_reply(
                    entry,
                    consultation_id=consultation.id,
                    elder=villager.elder_mode,
                    laws_available=self.laws is not None,
                )
            )
        return Outcome(
            tuple(out), notices, consultation_id=consultation.id, decision=Decision.URGENT
        )

    def _respond(
        self,
        session: Session,
        villager: Villager,
        text: str,
        result: MatchResult,
        latency: float,
        update_key: str | None,
    ) -> Outcome:
        candidates = json.dumps([[c.entry.id, round(c.score, 4)] for c in result.candidates])
        entry = result.entry
        topical = entry or (result.candidates[0].entry if result.candidates else None)
        consultation = self._store(
            session,
            villager,
            text,
            result.decision,
            update_key=update_key,
            normalized=result.normalized,
            faq_id=entry.id if entry else None,
            topic_key=topical.topic_key if topical else None,
            score=result.score,
            candidates=candidates,
            latency_ms=latency,
        )
        assert consultation.id is not None
        elder = villager.elder_mode
        if result.decision == "answer" and entry is not None:
            reply = replies.answer_reply(
                entry,
                consultation_id=consultation.id,
                elder=elder,
                laws_available=self.laws is not None,
            )
        elif result.decision == "confirm" and entry is not None:
            reply = replies.confirm_reply(
                entry,
                [c.entry for c in result.alternatives],
                consultation_id=consultation.id,
                elder=elder,
                laws_available=self.laws is not None,
            )
        elif result.decision == "suggest":
            reply = replies.suggest_reply(
                [c.entry for c in result.candidates], consultation_id=consultation.id, elder=elder
            )
        elif result.decision == "clarify":
            reply = Reply(texts.CLARIFY)
        else:
            village = self.config.village(villager.village_code)
            if village is None:
                reply = self._village_prompt(texts.ESCALATED_NO_VILLAGE)
            else:
                notices = self._open_escalation(
                    session, consultation, village, reason="unmatched", urgent=False
                )
                reply = replies.escalated_reply(
                    village, hours=self.config.sla.remind_hours, guidance=self._guidance(result)
                )
                return Outcome(
                    (reply,), notices, consultation_id=consultation.id, decision=result.decision
                )
        return Outcome((reply,), consultation_id=consultation.id, decision=result.decision)

    def _guidance(self, result: MatchResult) -> str:
        """The topic's general guidance when the best candidate is near enough to name the topic."""
        if not result.candidates:
            return ""
        best = result.candidates[0]
        if best.score < self.matcher.thresholds.suggest * GUIDANCE_SHARE:
            return ""
        topic = next((t for t in self.kb.topics if t.key == best.entry.topic_key), None)
        return topic.guidance if topic is not None else ""

    def _open_escalation(
        self,
        session: Session,
        consultation: Consultation,
        village: Village | None,
        *,
        reason: str,
        urgent: bool,
    ) -> tuple[Notice, ...]:
        return tuple(
            self.escalations.open(session, consultation, village, reason=reason, urgent=urgent)
        )

    def _pending_escalation(self, session: Session, villager: Villager) -> Consultation | None:
        assert villager.id is not None
        last = next(
            iter(repo.recent_consultations(session=session, villager_id=villager.id, limit=1)),
            None,
        )
        if last is None or last.decision != Decision.ESCALATE:
            return None
        if self.clock() - as_utc(last.created_at) > PENDING_ESCALATION_WINDOW:
            return None
        existing = repo.open_escalation_for_villager(session=session, villager_id=villager.id)
        return None if existing is not None and existing.consultation_id == last.id else last

    def _own_consultation(self, session: Session, villager: Villager, cid: str) -> Consultation:
        if not cid.isdigit():
            raise UnknownAction("bad consultation id")
        consultation = repo.get_consultation(session=session, consultation_id=int(cid))
        if consultation is None or consultation.villager_id != villager.id:
            raise UnknownAction("consultation is not the sender's")
        return consultation


def _candidate_ids(consultation: Consultation) -> list[str]:
    return [faq_id for faq_id, _ in guesses(consultation)]
