"""Validate a knowledge-base directory: schema, ids, phrasings, answer lengths and citations.

Run as `lawbot kb check` or `python -m knowledge.check [--kb DIR] [--laws DIR]`.
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz, process

from knowledge.laws import LawLibrary, is_repealed
from knowledge.loader import Problem, default_kb_dir, read_kb, resolve_kb_dirs
from knowledge.models import Citation, KnowledgeBase

__all__ = ["KbCheck", "check_kb", "phrasing_key"]

MIN_VARIANTS = 4
ANSWER_CHARS = (80, 350)
# A browse button sends `faq:<id>` as Telegram callback_data (at most 64 bytes).
ID_MAX_BYTES = 56
SHORT_MAX = 60
CAMPAIGN_MAX = 200
NEAR_DUPLICATE = 92.0  # rapidfuzz ratio over phrasing keys; above it two entries may be confused

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def phrasing_key(text: str) -> str:
    """Reduce a phrasing to what makes it distinct: NFKC, lower case, no punctuation or spaces."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).lower())


def _chars(text: str) -> int:
    return len(re.sub(r"\s+", "", text))


@dataclass(frozen=True)
class KbCheck:
    """The outcome of a check: the KB as loaded and every problem found."""

    kb: KnowledgeBase
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        """Return the problems that make the KB invalid."""
        return [p for p in self.problems if p.error]

    @property
    def warnings(self) -> list[Problem]:
        """Return the problems worth a look that do not invalidate the KB."""
        return [p for p in self.problems if not p.error]


def check_kb(kb_dir: Path | None = None, laws_dir: Path | None = None) -> KbCheck:
    """Check a KB directory; cite-check against `laws_dir` when given."""
    kb_dir = kb_dir or default_kb_dir()
    kb, problems = read_kb(kb_dir)
    _, faq_dir = resolve_kb_dirs(kb_dir)
    laws = LawLibrary(laws_dir) if laws_dir else None
    if laws_dir and not laws_dir.is_dir():
        problems.append(Problem(str(laws_dir), "", "法律文本目录不存在 (laws directory missing)"))
        laws = None
    problems += _check_entries(kb, faq_dir, laws)
    problems += _check_phrasings(kb, faq_dir)
    for message in kb.campaigns:
        where = f"campaigns/{message.campaign}.yaml"
        if _chars(message.text) > CAMPAIGN_MAX:
            problems.append(Problem(where, message.id, f"推送超过 {CAMPAIGN_MAX} 字"))
        problems += _check_citations(message.basis, where, message.id, laws)
    problems += _check_synonyms(kb)
    problems += _check_not_for(kb, faq_dir)
    return KbCheck(kb=kb, problems=problems)


NOT_FOR_MIN_CHARS = 4


def _check_not_for(kb: KnowledgeBase, faq_dir: Path) -> list[Problem]:
    """`not_for:` texts: not one of the entry's own phrasings, not empty, not a lone word."""
    problems: list[Problem] = []
    for entry in kb.entries:
        if not entry.not_for:
            continue
        where = str(faq_dir / f"{entry.topic_key}.yaml")
        own = {phrasing_key(p) for p in entry.phrasings}
        seen: set[str] = set()
        for text in entry.not_for:
            key = phrasing_key(text)
            if key in own:
                problems.append(
                    Problem(where, entry.id, f"not_for 与本条问法相同 (also a phrasing): {text}")
                )
            elif len(key) < NOT_FOR_MIN_CHARS:
                problems.append(
                    Problem(
                        where,
                        entry.id,
                        f"not_for 太短，应是一句完整的问题 (too short to guard): {text}",
                    )
                )
            elif key in seen:
                problems.append(
                    Problem(where, entry.id, f"not_for 重复 (repeated): {text}", False)
                )
            seen.add(key)
    return problems


def _check_entries(kb: KnowledgeBase, faq_dir: Path, laws: LawLibrary | None) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    topic_keys: set[str] = set()
    for topic in kb.topics:
        if not topic.guidance:
            problems.append(
                Problem("guidance.yaml", topic.key, "缺少主题指引 (no topic guidance)", False)
            )
        where = str(faq_dir / f"{topic.key}.yaml")
        if topic.key in topic_keys:
            problems.append(
                Problem(where, "", f"重复的主题 key (duplicate topic key): {topic.key}")
            )
        topic_keys.add(topic.key)
        for entry in topic.entries:
            if len(entry.id.encode("utf-8")) > ID_MAX_BYTES:
                problems.append(
                    Problem(
                        where, entry.id, f"id 超过 {ID_MAX_BYTES} 字节 (a button must carry it)"
                    )
                )
            if entry.id in seen:
                problems.append(
                    Problem(where, entry.id, f"重复的 id (duplicate id, also in {seen[entry.id]})")
                )
            seen.setdefault(entry.id, topic.key)
            if len(entry.variants) < MIN_VARIANTS:
                problems.append(
                    Problem(
                        where,
                        entry.id,
                        f"问法少于 {MIN_VARIANTS} 个 (variants: {len(entry.variants)})",
                    )
                )
            low, high = ANSWER_CHARS
            if not low <= _chars(entry.answer) <= high:
                problems.append(
                    Problem(
                        where,
                        entry.id,
                        f"答案应为 {low}–{high} 字 (answer has {_chars(entry.answer)})",
                    )
                )
            if entry.short and _chars(entry.short) > SHORT_MAX:
                problems.append(Problem(where, entry.id, f"short 超过 {SHORT_MAX} 字"))
            if not entry.short:
                problems.append(
                    Problem(where, entry.id, "缺少 short (no elder-mode answer)", False)
                )
            problems += _check_citations(entry.basis, where, entry.id, laws)
    return problems


def _check_citations(
    basis: Iterable[Citation], where: str, item: str, laws: LawLibrary | None
) -> list[Problem]:
    problems: list[Problem] = []
    for citation in basis:
        if is_repealed(citation.law):
            problems.append(
                Problem(where, item, f"引用了已废止的法律 (repealed law): {citation.law}")
            )
        elif laws is None:
            continue
        elif not laws.has_law(citation.law):
            problems.append(
                Problem(where, item, f"法律文本不存在 (no such law file): {citation.law}")
            )
        elif laws.article(citation.law, citation.article) is None:
            problems.append(
                Problem(
                    where, item, f"条文不存在 (no such article): {citation.law} {citation.label}"
                )
            )
    return problems


def _check_phrasings(kb: KnowledgeBase, faq_dir: Path) -> list[Problem]:
    problems: list[Problem] = []
    owners: dict[str, str] = {}
    keys: list[str] = []
    key_owner: list[tuple[str, str]] = []
    for entry in kb.entries:
        where = str(faq_dir / f"{entry.topic_key}.yaml")
        for phrasing in entry.phrasings:
            key = phrasing_key(phrasing)
            if not key:
                problems.append(
                    Problem(where, entry.id, f"空的问法 (empty phrasing): {phrasing!r}")
                )
                continue
            owner = owners.get(key)
            if owner is None:
                owners[key] = entry.id
                keys.append(key)
                key_owner.append((entry.id, phrasing))
            elif owner == entry.id:
                problems.append(
                    Problem(where, entry.id, f"问法重复 (repeated phrasing): {phrasing}")
                )
            else:
                problems.append(
                    Problem(
                        where, entry.id, f"与 {owner} 问法相同 (duplicate phrasing): {phrasing}"
                    )
                )
    if len(keys) > 1:
        scores = process.cdist(
            keys, keys, scorer=fuzz.ratio, score_cutoff=NEAR_DUPLICATE, workers=1
        )
        for i, j in zip(*scores.nonzero(), strict=True):
            if i < j and key_owner[i][0] != key_owner[j][0]:
                (a, pa), (b, pb) = key_owner[i], key_owner[j]
                problems.append(
                    Problem(
                        "faq",
                        a,
                        f"与 {b} 的问法很接近，可能混淆 (near duplicate): {pa} ~ {pb}",
                        False,
                    )
                )
    return problems


def _check_synonyms(kb: KnowledgeBase) -> list[Problem]:
    problems: list[Problem] = []
    synonyms = kb.lexicon.synonyms
    for colloquial, canonical in synonyms.items():
        if canonical in synonyms:
            problems.append(
                Problem(
                    "lexicon/synonyms",
                    colloquial,
                    f"同义词链 (chain): {colloquial}→{canonical}→{synonyms[canonical]}",
                    False,
                )
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    """Check a KB from the command line; exit 1 on any error."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kb", type=Path, default=None)
    parser.add_argument("--laws", type=Path, default=None)
    args = parser.parse_args(argv)
    result = check_kb(args.kb, args.laws)
    for problem in result.problems:
        print(problem)
    kb = result.kb
    phrasings = sum(len(e.phrasings) for e in kb.entries)
    print(
        f"{len(kb.entries)} entries, {phrasings} phrasings, {len(kb.topics)} topics; "
        f"{len(result.errors)} errors, {len(result.warnings)} warnings"
    )
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
