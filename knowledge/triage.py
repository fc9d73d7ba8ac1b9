"""Risk triage: spot messages that need emergency numbers before any FAQ answer.

The trigger phrases live in the KB (`triage.yaml`), not here. A message is reduced to simplified
characters without spaces or punctuation, and Jiangxi dialect words and common homophone typos are
folded to one spelling (冇→没, 伢崽→孩子, 堂客→老婆, 家抱→家暴), so one trigger covers them all;
phrases listed under `exclude` (打官司, 打工…) are blanked out first so they cannot fire a trigger;
then the first category with a trigger present wins, in file order. A trigger with `…` in it
allows up to six other characters there (`老公…打我` also fires on 老公昨晚又打我).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from opencc_purepy import OpenCC

from knowledge.models import TriageCategory

__all__ = ["detect_risk", "simplify"]

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
_MAX_CHARS = 4000


@lru_cache(maxsize=1)
def _converter() -> OpenCC:
    return OpenCC("t2s")


# Dialect words and sound-alike typos folded before matching (longest first).
_FOLD = (
    ("冇得", "没有"),
    ("冇", "没"),
    ("伢崽", "孩子"),
    ("伢子", "孩子"),
    ("细伢", "孩子"),
    ("小伢", "孩子"),
    ("堂客", "老婆"),
    ("老倌", "老公"),
    ("家抱", "家暴"),
    ("家爆", "家暴"),
    ("加暴", "家暴"),
    ("家报", "家暴"),
)
_GAP = "…"


def simplify(text: str) -> str:
    """Return NFKC, lower-case, simplified text without spaces, punctuation or emoji."""
    text = unicodedata.normalize("NFKC", text[:_MAX_CHARS]).lower()
    return _NOT_WORD.sub("", str(_converter().convert(text)))


def _folded(text: str) -> str:
    plain = simplify(text)
    for word, canonical in _FOLD:
        plain = plain.replace(word, canonical)
    return plain


@lru_cache(maxsize=8192)
def _phrase_key(phrase: str) -> str:
    return _folded(phrase)


@lru_cache(maxsize=8192)
def _gap_pattern(trigger: str) -> re.Pattern[str] | None:
    parts = [_folded(p) for p in trigger.split(_GAP)]
    if len(parts) < 2 or not all(parts):
        return None
    return re.compile(".{0,6}".join(re.escape(p) for p in parts))


def _fires(trigger: str, masked: str) -> bool:
    if _GAP in trigger:
        pattern = _gap_pattern(trigger)
        return pattern is not None and pattern.search(masked) is not None
    key = _phrase_key(trigger)
    return bool(key) and key in masked


def detect_risk(text: str, categories: Sequence[TriageCategory]) -> TriageCategory | None:
    """Return the first risk category whose trigger appears in the message, or None."""
    plain = _folded(text)
    if not plain:
        return None
    for category in categories:
        masked = plain
        for phrase in category.exclude:
            key = _phrase_key(phrase)
            if key:
                masked = masked.replace(key, "·" * len(key))
        if any(_fires(t, masked) for t in category.triggers):
            return category
    return None
