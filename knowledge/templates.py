"""Template fields in KB texts: `{county}`, `{town}` … filled from the deployment's config.

The shipped KB names no place, so any town can reuse it; the config supplies the values. Pure.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping

from knowledge.models import CampaignMessage, Entry, KnowledgeBase, Topic

__all__ = ["FIELDS", "fill_fields", "unknown_fields"]

# The fields a KB text may use, with what each one means.
FIELDS: Mapping[str, str] = {
    "town": "乡镇名 / the town (曹溪镇)",
    "county": "县名 / the county (弋阳县)",
    "city": "地级市名 / the prefecture-level city (上饶市)",
    "province": "省名 / the province (江西省)",
    "office": "司法所名称 / the justice office ([justice_office] name)",
    "office_phone": "司法所对外电话 / its public phone ([justice_office] phone; else 12348)",
}

_FIELD = re.compile(r"\{([^{}\s]*)\}")


def _fill(text: str, values: Mapping[str, str]) -> str:
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _entry_texts(entry: Entry) -> list[str]:
    return [*entry.phrasings, entry.answer, entry.short, entry.next_steps]


def unknown_fields(kb: KnowledgeBase) -> list[tuple[str, str]]:
    """Return (entry or message id, field) for every `{field}` that is not a known field."""
    found: list[tuple[str, str]] = []
    for entry in kb.entries:
        for text in _entry_texts(entry):
            found += [(entry.id, f) for f in _FIELD.findall(text) if f not in FIELDS]
    for message in kb.campaigns:
        found += [(message.id, f) for f in _FIELD.findall(message.text) if f not in FIELDS]
    for topic in kb.topics:
        found += [(topic.key, f) for f in _FIELD.findall(topic.guidance) if f not in FIELDS]
    return found


def fill_fields(kb: KnowledgeBase, values: Mapping[str, str]) -> KnowledgeBase:
    """Return the KB with every known `{field}` replaced by the deployment's value."""

    def entry(e: Entry) -> Entry:
        return dataclasses.replace(
            e,
            question=_fill(e.question, values),
            variants=tuple(_fill(v, values) for v in e.variants),
            answer=_fill(e.answer, values),
            short=_fill(e.short, values),
            next_steps=_fill(e.next_steps, values),
        )

    def message(m: CampaignMessage) -> CampaignMessage:
        return dataclasses.replace(m, text=_fill(m.text, values))

    topics = tuple(
        Topic(t.key, t.name, tuple(entry(e) for e in t.entries), _fill(t.guidance, values))
        for t in kb.topics
    )
    salt = "|".join(f"{k}={values[k]}" for k in sorted(values))
    fingerprint = hashlib.sha256(f"{kb.fingerprint}|{salt}".encode()).hexdigest()[:16]
    return dataclasses.replace(
        kb,
        topics=topics,
        campaigns=tuple(message(m) for m in kb.campaigns),
        fingerprint=fingerprint,
    )
