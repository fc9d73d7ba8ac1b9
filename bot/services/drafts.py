"""The learning loop: what advisors and villagers teach the bot waits for staff review.

Three kinds of draft: an advisor's answer becomes a draft FAQ entry; a villager's wording becomes a
draft phrasing of the entry they picked from a list or accepted after a check; a wording whose
answer they rejected becomes a draft "not for" question of that entry. Approval checks an entry
against the KB rules (and the law texts when configured) and writes it in the KB's YAML format under
`[knowledge] drafts_dir`/faq/<topic>.yaml; an approved phrasing goes to `drafts_dir`/phrasings.yaml.
The running bot merges that directory into its knowledge base and rebuilds the matcher in place.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, col, select

from bot.config import Config
from knowledge.check import check_kb
from knowledge.models import Entry, KnowledgeBase
from knowledge.numerals import parse_article
from storage.db import Database
from storage.models import DraftKind, FaqDraft

__all__ = ["PHRASINGS_FILE", "DraftError", "DraftService", "parse_basis"]

PHRASINGS_FILE = "phrasings.yaml"  # entry id -> {variant: [...], not_for: [...]}
PHRASING_MIN, PHRASING_MAX = 4, 150  # characters of a wording worth learning from


class DraftError(Exception):
    """A draft cannot be edited or approved as asked; the message says why (in Chinese)."""


def parse_basis(items: Sequence[str]) -> list[dict[str, Any]]:
    """Read citations written as `中华人民共和国民法典:236` (article as number or 第X条)."""
    basis: list[dict[str, Any]] = []
    for item in items:
        law, sep, article = item.rpartition(":")
        if not sep or not law.strip() or not article.strip():
            raise DraftError(
                f"引用格式应为 法律名:条号，例如 中华人民共和国民法典:236（收到 {item!r}）"
            )
        try:
            parse_article(article.strip())
        except ValueError as exc:
            raise DraftError(f"条号不对：{article!r}") from exc
        value: int | str = int(article) if article.strip().isdigit() else article.strip()
        basis.append({"law": law.strip(), "article": value})
    return basis


@dataclass
class DraftService:
    """Staff use cases over draft FAQ entries."""

    config: Config
    db: Database
    clock: Callable[[], datetime]

    @property
    def directory(self) -> Path:
        """Return where approved entries are written (a KB root with a faq/ folder)."""
        return self.config.resolve(self.config.knowledge.drafts_dir) or Path("data/kb-drafts")

    def waiting(self, *, state: str | None = "draft") -> list[FaqDraft]:
        """Return drafts (by default those waiting for a decision), oldest first."""
        with self.db.session() as session:
            statement = select(FaqDraft).order_by(col(FaqDraft.id))
            if state is not None:
                statement = statement.where(FaqDraft.state == state)
            return [*session.exec(statement).all()]

    def edit(self, draft_id: int, **fields: Any) -> FaqDraft:
        """Change a waiting draft's question, answer, short, variants, basis, next steps or topic."""
        with self.db.session() as session:
            draft = self._waiting(session, draft_id)
            for name, value in fields.items():
                if value is None:
                    continue
                if name in ("variants", "basis"):
                    value = json.dumps(list(value), ensure_ascii=False)
                setattr(draft, name, value)
            session.add(draft)
            return draft

    def create(
        self,
        *,
        question: str,
        answer: str,
        topic_key: str | None,
        actor: str,
        short: str = "",
        basis: Sequence[str] = (),
        next_steps: str = "",
    ) -> FaqDraft:
        """Start a new entry draft (the console's "write an entry" for an unanswered question)."""
        if not question.strip() or not answer.strip():
            raise DraftError("问题和答复都要填写。")
        with self.db.session() as session:
            draft = FaqDraft(
                question=question.strip(),
                answer=answer.strip(),
                short=short.strip(),
                basis=json.dumps(parse_basis([b for b in basis if b.strip()]), ensure_ascii=False),
                next_steps=next_steps.strip(),
                topic_key=topic_key or None,
                author=actor,
                created_at=self.clock(),
            )
            session.add(draft)
            session.flush()
            return draft

    def problems(self, draft_id: int, kb: KnowledgeBase) -> list[str]:
        """The KB rules a waiting entry draft breaks now (empty when it could be approved)."""
        with self.db.session() as session:
            draft = self._waiting(session, draft_id)
            if draft.kind != DraftKind.ENTRY:
                return []
            topic = kb.topic(draft.topic_key or "")
            if topic is None:
                return ["请先指定主题。"]
            entry = {
                "id": f"{topic.key}-draft-{draft.id}",
                "question": draft.question.strip(),
                "variants": json.loads(draft.variants or "[]"),
                "answer": draft.answer.strip(),
                "short": draft.short.strip(),
                "basis": json.loads(draft.basis or "[]"),
                "next_steps": draft.next_steps.strip() or "拿不准可以问村法律顾问，或拨打 12348。",
            }
        try:
            self._check(topic.key, topic.name, entry, kb)
        except DraftError as exc:
            return [line for line in str(exc).splitlines() if line.strip()]
        return []

    def reject(self, draft_id: int, *, reason: str, actor: str) -> FaqDraft:
        """Reject a draft, keeping the reason."""
        if not reason.strip():
            raise DraftError("请写明不采用的理由。")
        with self.db.session() as session:
            draft = self._waiting(session, draft_id)
            draft.state, draft.reason = "rejected", reason.strip()
            draft.decided_at, draft.decided_by = self.clock(), actor
            session.add(draft)
            return draft

    def approve(self, draft_id: int, *, actor: str, kb: KnowledgeBase) -> str:
        """Check a draft as a KB entry, write it to the drafts directory, return the entry id."""
        with self.db.session() as session:
            draft = self._waiting(session, draft_id)
            if draft.kind != DraftKind.ENTRY:
                entry_id = self._approve_phrasing(draft, kb)
                draft.state = "approved"
                draft.decided_at, draft.decided_by = self.clock(), actor
                session.add(draft)
                return entry_id
            topic = kb.topic(draft.topic_key or "")
            if topic is None:
                raise DraftError("请先指定主题：lawbot kb drafts edit ID --topic 主题key")
            entry_id = f"{topic.key}-draft-{draft.id}"
            entry = {
                "id": entry_id,
                "question": draft.question.strip(),
                "variants": json.loads(draft.variants or "[]"),
                "answer": draft.answer.strip(),
                "short": draft.short.strip(),
                "basis": json.loads(draft.basis or "[]"),
                "next_steps": draft.next_steps.strip() or "拿不准可以问村法律顾问，或拨打 12348。",
            }
            self._check(topic.key, topic.name, entry, kb)
            self._write(topic.key, topic.name, entry)
            draft.state, draft.entry_id = "approved", entry_id
            draft.decided_at, draft.decided_by = self.clock(), actor
            session.add(draft)
            return entry_id

    def propose_phrasing(
        self,
        session: Session,
        *,
        kind: DraftKind,
        entry: Entry,
        text: str,
        consultation_id: int | None,
    ) -> FaqDraft | None:
        """Queue a villager's wording for review: a new phrasing of `entry`, or one it does not
        answer. Skips wordings too short or long to teach anything and ones already queued."""
        text = " ".join(text.split())
        if not PHRASING_MIN <= len(text) <= PHRASING_MAX or text in entry.phrasings:
            return None
        if kind == DraftKind.NOT_FOR and text in entry.not_for:
            return None
        queued = session.exec(
            select(FaqDraft).where(
                FaqDraft.kind == kind,
                FaqDraft.entry_id == entry.id,
                FaqDraft.question == text,
                FaqDraft.state == "draft",
            )
        ).first()
        if queued is not None:
            return None
        draft = FaqDraft(
            kind=kind,
            entry_id=entry.id,
            question=text,
            answer="",
            topic_key=entry.topic_key,
            author="villager",
            consultation_id=consultation_id,
            created_at=self.clock(),
        )
        session.add(draft)
        session.flush()
        return draft

    def _approve_phrasing(self, draft: FaqDraft, kb: KnowledgeBase) -> str:
        entry = kb.entry(draft.entry_id or "")
        if entry is None:
            raise DraftError(f"问答 {draft.entry_id} 已不在问答库里。")
        text = draft.question.strip()
        if draft.kind == DraftKind.VARIANT:
            owner = next((e.id for e in kb.entries if text in e.phrasings), None)
            if owner is not None:
                raise DraftError(f"问法和已有问答 {owner} 重复：{text}")
        elif text in entry.phrasings:
            raise DraftError(f"这句话是 {entry.id} 自己的问法，不能同时标为“不是这条”。")
        path = self.directory / PHRASINGS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
        data = data or {}
        slot = data.setdefault(entry.id, {})
        listed = slot.setdefault(str(draft.kind), [])
        if text not in listed:
            listed.append(text)
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=True), encoding="utf-8")
        tmp.replace(path)
        return entry.id

    def _waiting(self, session: Any, draft_id: int) -> FaqDraft:
        draft = session.get(FaqDraft, draft_id)
        if draft is None:
            raise DraftError(f"没有草稿 #{draft_id}。")
        if draft.state != "draft":
            raise DraftError(
                f"草稿 #{draft_id} 已经{'通过' if draft.state == 'approved' else '不采用'}了。"
            )
        return draft  # type: ignore[no-any-return]

    def _check(self, key: str, name: str, entry: dict[str, Any], kb: KnowledgeBase) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            faq = Path(tmp) / "faq"
            faq.mkdir()
            (faq / f"{key}.yaml").write_text(
                yaml.safe_dump(
                    {"topic": name, "key": key, "entries": [entry]}, allow_unicode=True
                ),
                encoding="utf-8",
            )
            laws = self.config.laws_path()
            result = check_kb(Path(tmp), laws if laws.is_dir() else None)
        errors = [p.reason for p in result.errors]
        known = {p for e in kb.entries for p in e.phrasings}
        clashes = [p for p in [entry["question"], *entry["variants"]] if p in known]
        if clashes:
            errors.append(f"问法和已有问答重复：{'、'.join(clashes)}")
        if errors:
            raise DraftError("草稿还不能上线：" + "；".join(errors))

    def _write(self, key: str, name: str, entry: dict[str, Any]) -> None:
        path = self.directory / "faq" / f"{key}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
        data = data or {"topic": name, "key": key, "entries": []}
        data["entries"] = [e for e in data["entries"] if e.get("id") != entry["id"]] + [entry]
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        tmp.replace(path)
