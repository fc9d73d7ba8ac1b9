"""How much of what people ask the KB covers: per topic, over a labelled question set. Pure.

A labelled set is JSON lines keyed by id (`knowledge/eval/realqa/labels.jsonl` is one): `label` is
`entry` (with `entries`), `not_covered` (with `topic`) or `out_of_scope`. A question is in scope
unless `out_of_scope`; its topic is that of its first gold entry, else its `topic` field. Coverage
of a topic = in-scope questions with a gold entry / in-scope questions of the topic.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from knowledge.models import KnowledgeBase

__all__ = ["Coverage", "TopicCoverage", "coverage", "read_labels"]


@dataclass(frozen=True, slots=True)
class TopicCoverage:
    """One topic's row: in-scope questions, those with a gold entry, and its share."""

    key: str
    name: str
    in_scope: int
    covered: int

    @property
    def share(self) -> float:
        """Covered / in scope (NaN without questions)."""
        return self.covered / self.in_scope if self.in_scope else math.nan


@dataclass(frozen=True, slots=True)
class Coverage:
    """The whole set: per-topic rows (largest first), totals and the uncovered kinds."""

    topics: tuple[TopicCoverage, ...]
    in_scope: int
    covered: int
    out_of_scope: int
    uncovered: tuple[tuple[str, int], ...]  # not-covered topic keys, most frequent first
    unknown_entries: tuple[str, ...]  # gold ids no longer in the KB (labels need a refresh)

    @property
    def share(self) -> float:
        """Covered / in scope over the whole set."""
        return self.covered / self.in_scope if self.in_scope else math.nan

    def as_json(self) -> dict[str, object]:
        """The report as plain data (`lawbot kb coverage --json`)."""
        return {
            "in_scope": self.in_scope,
            "covered": self.covered,
            "share": None if math.isnan(self.share) else round(self.share, 4),
            "out_of_scope": self.out_of_scope,
            "topics": [
                {"key": t.key, "name": t.name, "in_scope": t.in_scope, "covered": t.covered}
                for t in self.topics
            ],
            "uncovered": [{"topic": k, "count": n} for k, n in self.uncovered],
            "unknown_entries": list(self.unknown_entries),
        }


def read_labels(path: Path, ids: Iterable[str] | None = None) -> list[Mapping[str, object]]:
    """Read a labelled set (JSON lines), optionally only the given ids."""
    wanted = set(ids) if ids is not None else None
    rows = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    return [r for r in rows if wanted is None or r.get("id") in wanted]


def coverage(kb: KnowledgeBase, labels: Iterable[Mapping[str, object]]) -> Coverage:
    """Count coverage per topic over labelled questions."""
    names = {t.key: t.name for t in kb.topics}
    topic_of = {e.id: e.topic_key for e in kb.entries}
    in_scope: Counter[str] = Counter()
    covered: Counter[str] = Counter()
    uncovered: Counter[str] = Counter()
    unknown: set[str] = set()
    out = 0
    for row in labels:
        label = row.get("label")
        if label == "out_of_scope":
            out += 1
            continue
        if label == "entry":
            gold = [str(e) for e in row.get("entries") or []]  # type: ignore[attr-defined]
            unknown.update(g for g in gold if g not in topic_of)
            known = [g for g in gold if g in topic_of]
            if not known:
                continue
            key = topic_of[known[0]]
            in_scope[key] += 1
            covered[key] += 1
        elif label == "not_covered":
            key = str(row.get("topic") or "other")
            in_scope[key] += 1
            uncovered[key] += 1
    rows = tuple(
        TopicCoverage(key, names.get(key, key), in_scope[key], covered[key])
        for key in sorted(in_scope, key=lambda k: (-in_scope[k], k))
    )
    return Coverage(
        topics=rows,
        in_scope=sum(in_scope.values()),
        covered=sum(covered.values()),
        out_of_scope=out,
        uncovered=tuple(uncovered.most_common()),
        unknown_entries=tuple(sorted(unknown)),
    )
