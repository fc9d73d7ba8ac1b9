"""Merge approved draft entries (a second KB directory) into the shipped knowledge base."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from knowledge.models import KnowledgeBase, Topic

__all__ = ["merge_kbs"]


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
                key=known.key, name=known.name, entries=known.entries + entries
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
