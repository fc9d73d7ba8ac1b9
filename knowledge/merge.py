"""Merge approved drafts into the shipped knowledge base: new entries and learnt phrasings."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import replace

from knowledge.models import Entry, KnowledgeBase, Topic

__all__ = ["add_phrasings", "merge_kbs"]


def merge_kbs(base: KnowledgeBase, extra: KnowledgeBase) -> KnowledgeBase:
    """Append the extra KB's entries to the topics with the same key (new topics at the end)."""
    if not extra.entries:
        return base
    topics = {t.key: t for t in base.topics}
    order = [t.key for t in base.topics]
    for topic in extra.topics:
        known = topics.get(topic.key)
        if known is None:
            topics[topic.key] = topic
            order.append(topic.key)
        else:
            entries = tuple(replace(e, topic=known.name) for e in topic.entries)
            topics[topic.key] = Topic(
                key=known.key,
                name=known.name,
                entries=known.entries + entries,
                guidance=known.guidance,
            )
    fingerprint = hashlib.sha256(f"{base.fingerprint}+{extra.fingerprint}".encode()).hexdigest()[
        :16
    ]
    return KnowledgeBase(
        topics=tuple(topics[k] for k in order),
        lexicon=base.lexicon,
        triage=base.triage,
        campaigns=base.campaigns,
        fingerprint=fingerprint,
    )


def add_phrasings(
    kb: KnowledgeBase, extra: Mapping[str, Mapping[str, Sequence[str]]]
) -> KnowledgeBase:
    """Add approved phrasings (`variant`) and not-for questions (`not_for`) to existing entries."""
    if not extra:
        return kb

    def grown(entry: Entry) -> Entry:
        more = extra.get(entry.id)
        if not more:
            return entry
        variants = [v for v in more.get("variant", ()) if v not in entry.phrasings]
        not_for = [t for t in more.get("not_for", ()) if t not in entry.not_for]
        return replace(
            entry,
            variants=entry.variants + tuple(variants),
            not_for=entry.not_for + tuple(not_for),
        )

    topics = tuple(
        Topic(t.key, t.name, tuple(grown(e) for e in t.entries), t.guidance) for t in kb.topics
    )
    salt = repr(
        sorted((k, sorted((kk, tuple(vv)) for kk, vv in v.items())) for k, v in extra.items())
    )
    fingerprint = hashlib.sha256(f"{kb.fingerprint}+{salt}".encode()).hexdigest()[:16]
    return replace(kb, topics=topics, fingerprint=fingerprint)
