"""One villager turn over the services, shared by the JSON API and the web chat: greet a new
villager, bind the village, run a command or ask, store the reply body under the update key (a
repeated key returns it again; `prune` drops old ones), and collect the replies that arrived later.

Every method is synchronous and hits the database: call it in a worker thread.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.channels import logs, metrics
from bot.services import actions
from bot.services.container import Services
from bot.services.outcomes import Notice, Outcome, Sender
from bot.services.replies import Reply
from storage import api_models
from storage import repositories as repo

__all__ = [
    "Conversation",
    "DuplicateMessage",
    "Later",
    "Turn",
    "dumps",
    "outcome_body",
    "reply_json",
]

logger = logging.getLogger(__name__)

COMMAND = re.compile(r"^/([a-z_]{1,32})(?:\s+(.*))?$", re.DOTALL)
PRUNE_EVERY = timedelta(minutes=10)

Later = tuple[tuple[Reply, ...], tuple[Notice, ...]]


class DuplicateMessage(Exception):
    """The update key was answered longer ago than the idempotency window (nothing recorded)."""


def reply_json(reply: Reply) -> dict[str, Any]:
    """Render a reply as `{"text", "buttons": [{"label", "action"}]}`."""
    return {
        "text": reply.text,
        "buttons": [{"label": b.label, "action": b.action} for b in reply.flat_buttons()],
    }


def dumps(body: dict[str, Any]) -> str:
    """Serialise a body as compact UTF-8 JSON (what is stored and answered)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def outcome_body(replies: Sequence[Reply], outcome: Outcome) -> dict[str, Any]:
    """The answer to a message or action: replies, consultation id and decision."""
    return {
        "replies": [reply_json(r) for r in replies],
        "consultation_id": outcome.consultation_id,
        "decision": str(outcome.decision) if outcome.decision is not None else None,
    }


@dataclass
class Turn:
    """What one request produced: the body to answer, whether it was stored before, the notices."""

    body: str
    replay: bool = False
    notices: tuple[Notice, ...] = ()


@dataclass
class Conversation:
    """Villager turns of a web-like channel (a JSON body per turn, exactly once per update key)."""

    services: Services
    idempotency_hours: float
    _last_prune: float = field(default=0.0, repr=False)
    _prune_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def converse(
        self, sender: Sender, text: str, village: str | None, update_key: str | None
    ) -> Turn:
        """Answer a message (a `/command` runs the command); raise `DuplicateMessage` if stale."""
        with logs.bound_update_key(update_key):
            return self._converse(sender, text, village, update_key)

    def _converse(
        self, sender: Sender, text: str, village: str | None, update_key: str | None
    ) -> Turn:
        service = self.services.consultation
        if update_key is not None:
            stored = self._stored(update_key)
            if stored is not None:
                return Turn(stored, replay=True)
        seen, recorded, bound = self._villager_state(sender, update_key)
        out: list[Outcome] = []
        if not recorded:  # a redelivered message binds nothing again
            if not seen:
                out.append(service.start(sender, village))  # greeting, privacy note, village
            elif village is not None and village != bound:
                out.append(service.act(sender, actions.encode(actions.VILLAGE, village)))
        started = time.perf_counter()
        command = COMMAND.fullmatch(text.strip())
        if command is not None:
            last = service.command(sender, command.group(1), (command.group(2) or "").strip())
        else:
            last = self._ask(sender, text, update_key)
        if last.duplicate:
            assert update_key is not None
            stored = self._stored(update_key)
            if stored is None:  # answered, and the stored reply is past the window
                raise DuplicateMessage(update_key)
            return Turn(stored, replay=True)
        metrics.observe_message(sender.channel, last.decision, time.perf_counter() - started)
        out.append(last)
        replies = tuple(r for o in out for r in o.replies)
        body = dumps(outcome_body(replies, last))
        if update_key is not None:
            with service.db.session() as session:
                body = api_models.store_response(
                    session=session, update_key=update_key, body=body, now=service.clock()
                )
            service.mark_replied(update_key)
        return Turn(body, notices=tuple(n for o in out for n in o.notices))

    def act(self, sender: Sender, action: str) -> Turn:
        """Carry out a button's action."""
        outcome = self.services.consultation.act(sender, action)
        return Turn(dumps(outcome_body(outcome.replies, outcome)), notices=outcome.notices)

    def later(self, sender: Sender) -> Later:
        """Replies that arrived later (held messages answered, advisor answers), each once.

        An unknown sender gets nothing and is not created.
        """
        service = self.services.consultation
        with service.db.session() as session:
            known = repo.get_villager(
                session=session, channel=sender.channel, channel_user_id=sender.user_id
            )
        if known is None:
            return (), ()
        outcomes = [*service.release_held(sender), service.inbox(sender)]
        return (
            tuple(r for o in outcomes for r in o.replies),
            tuple(n for o in outcomes for n in o.notices),
        )

    def _ask(self, sender: Sender, text: str, update_key: str | None) -> Outcome:
        service = self.services.consultation
        try:
            return service.ask(sender, text, update_key=update_key)
        except IntegrityError:
            if update_key is None:
                raise
            # The same message id arrived twice at once and the other request stored it first:
            # asking again finds that consultation and redelivers its reply.
            return service.ask(sender, text, update_key=update_key)

    def _villager_state(
        self, sender: Sender, update_key: str | None
    ) -> tuple[bool, bool, str | None]:
        """Return (greeted before, message already recorded, village bound)."""
        with self.services.consultation.db.session() as session:
            villager = repo.get_villager(
                session=session, channel=sender.channel, channel_user_id=sender.user_id
            )
            recorded = update_key is not None and (
                repo.consultation_by_update_key(session=session, update_key=update_key) is not None
            )
            if villager is None:
                return False, recorded, None
            return villager.consent_at is not None, recorded, villager.village_code

    def _stored(self, update_key: str) -> str | None:
        with self.services.consultation.db.session() as session:
            return api_models.stored_response(session=session, update_key=update_key)

    def prune(self, *, every: timedelta = PRUNE_EVERY) -> None:
        """Delete stored bodies past the idempotency window (at most once per `every`)."""
        now = time.monotonic()
        with self._prune_lock:
            if self._last_prune and now - self._last_prune < every.total_seconds():
                return
            self._last_prune = now
        service = self.services.consultation
        before = service.clock() - timedelta(hours=self.idempotency_hours)
        with service.db.session() as session:
            count = api_models.prune_responses(session=session, before=before)
        if count:
            logger.info("pruned %d stored replies older than %s", count, before)
