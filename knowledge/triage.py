"""Risk triage: spot messages that need emergency numbers before any FAQ answer.

The trigger phrases live in the KB (`triage.yaml`), not here. A message is reduced to simplified
characters without spaces or punctuation; phrases listed under `exclude` (打官司, 打工…) are
blanked out first so they cannot fire a trigger; then the first category with a trigger present
wins, in file order.
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


def simplify(text: str) -> str:
    """Return NFKC, lower-case, simplified text without spaces, punctuation or emoji."""
    text = unicodedata.normalize("NFKC", text[:_MAX_CHARS]).lower()
    return _NOT_WORD.sub("", str(_converter().convert(text)))


@lru_cache(maxsize=8192)
def _phrase_key(phrase: str) -> str:
    return simplify(phrase)


def detect_risk(text: str, categories: Sequence[TriageCategory]) -> TriageCategory | None:
    """Return the first risk category whose trigger appears in the message, or None."""
    plain = simplify(text)
    if not plain:
        return None
    for category in categories:
        masked = plain
        for phrase in category.exclude:
            key = _phrase_key(phrase)
            if key:
                masked = masked.replace(key, "·" * len(key))
        if any((key := _phrase_key(t)) and key in masked for t in category.triggers):
            return category
    return None
