"""Frozen value objects of the knowledge base."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

__all__ = [
    "CampaignMessage",
    "Citation",
    "Entry",
    "KnowledgeBase",
    "Lexicon",
    "Topic",
    "TriageCategory",
    "short_law_name",
]

_PRC_PREFIX = "中华人民共和国"


def short_law_name(law: str) -> str:
    """Return the name villagers know a law by: 中华人民共和国民法典 → 民法典."""
    return law.removeprefix(_PRC_PREFIX) or law


@dataclass(frozen=True, slots=True)
class Citation:
    """One legal basis: a law (file name in the laws directory) and an article."""

    law: str
    article: int | str  # as written in the KB (kept for the JSON contract)
    label: str  # canonical 第X条 form

    def display(self) -> str:
        """Render as 《民法典》第二百三十六条."""
        return f"《{short_law_name(self.law)}》{self.label}"

    def as_json(self) -> dict[str, int | str]:
        """Return the `{law, article}` form used by `lawbot ask --json`."""
        return {"law": self.law, "article": self.article}


@dataclass(frozen=True, slots=True)
class Entry:
    """One FAQ entry: a canonical question, its variants and the answer."""

    id: str
    topic_key: str
    topic: str
    question: str
    variants: tuple[str, ...]
    answer: str
    short: str
    basis: tuple[Citation, ...]
    next_steps: str
    keywords: tuple[str, ...] = ()
    not_for: tuple[str, ...] = ()  # similar questions this entry does not answer (a guard)

    @property
    def phrasings(self) -> tuple[str, ...]:
        """Return the question followed by its variants: everything the matcher indexes."""
        return (self.question, *self.variants)


@dataclass(frozen=True, slots=True)
class Topic:
    """A topic file: its key, its Chinese name and its entries in file order."""

    key: str
    name: str
    entries: tuple[Entry, ...]
    guidance: str = ""  # where such matters go, shown when the topic is clear but no entry fits


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Colloquial → canonical synonyms and jieba user-dictionary words."""

    synonyms: Mapping[str, str] = field(default_factory=dict)
    words: tuple[tuple[str, int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class TriageCategory:
    """A kind of risk that gets emergency numbers before any FAQ answer."""

    key: str
    label: str
    numbers: tuple[str, ...]
    message: str
    triggers: tuple[str, ...]
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CampaignMessage:
    """A short publicity push text with its legal basis."""

    id: str
    campaign: str
    title: str
    text: str
    basis: tuple[Citation, ...]


@dataclass(frozen=True)
class KnowledgeBase:
    """Everything loaded from one KB directory."""

    topics: tuple[Topic, ...]
    lexicon: Lexicon = Lexicon()
    triage: tuple[TriageCategory, ...] = ()
    campaigns: tuple[CampaignMessage, ...] = ()
    fingerprint: str = ""  # hash of the content: keys caches derived from the KB

    @cached_property
    def entries(self) -> tuple[Entry, ...]:
        """Return every entry of every topic, in file order."""
        return tuple(e for t in self.topics for e in t.entries)

    def entry(self, entry_id: str) -> Entry | None:
        """Return the entry with this id, or None."""
        return self._by_id.get(entry_id)

    def topic(self, key: str) -> Topic | None:
        """Return the topic with this key, or None."""
        return next((t for t in self.topics if t.key == key), None)

    def campaign_message(self, message_id: str) -> CampaignMessage | None:
        """Return the campaign message with this id, or None."""
        return next((m for m in self.campaigns if m.id == message_id), None)

    @cached_property
    def _by_id(self) -> dict[str, Entry]:
        return {e.id: e for e in self.entries}
