"""Normalise a villager's message before matching (and before risk triage).

Steps, in order: NFKC (full-width → half-width), control characters dropped, lower case,
traditional → simplified (OpenCC t2s), filler phrases and clause-final particles removed
(请问, 你好, 我想问一下, 吗/呢/啊…), colloquial → canonical words (built-in dialect and
question-type forms, then the KB's synonym map, longest match first, never inside a longer
protected word), punctuation, emoji and spaces stripped. Question-type words (多少钱, 去哪办,
要什么材料, 多久) are kept: they separate entries.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Final

__all__ = [
    "BUILTIN_SYNONYMS",
    "FILLERS",
    "MAX_CHARS",
    "PARTICLES",
    "QUESTION_TYPES",
    "Replacer",
    "is_cjk",
    "normalize",
    "question_types",
    "to_simplified",
]

MAX_CHARS: Final = 240  # longer messages keep their head and tail (the question is usually last)

# Phrases that never carry meaning in a question; removed wherever they occur (longest first).
FILLERS: Final[tuple[str, ...]] = (
    "我想请问一下", "我想咨询一下", "我想问一下", "我想问问", "想请问一下", "想咨询一下", "想问一下",
    "我想请问", "我想咨询", "我想问下", "请问一下", "请教一下", "咨询一下", "麻烦问一下", "麻烦问下",
    "麻烦您", "麻烦你", "打扰一下", "打扰了", "问一下", "问下", "请问", "请教", "想问", "您好",
    "你好", "大家好", "在吗", "在不在", "有人吗", "谢谢您", "谢谢你", "谢谢", "多谢", "感谢",
    "哈哈", "呵呵", "嗯嗯", "急急急", "急求", "求助", "求解答", "帮帮忙", "帮帮我", "拜托",
)  # fmt: skip

# Sentence particles, removed at the start or end of a clause only.
PARTICLES: Final = "吗呢啊吧呀哦嘛啦哈喔噢咧哇呐嘞哟诶嗯唉哎"

# Built-in colloquial → canonical forms that hold in every context (dialect question words and
# question-type phrasings). The KB's own synonym map is applied after these and wins on conflict.
BUILTIN_SYNONYMS: Final[Mapping[str, str]] = {
    "么子": "什么", "啥子": "什么", "什么子": "什么", "啥": "什么", "咋个办": "怎么办",
    "咋办": "怎么办", "咋整": "怎么办", "怎么搞": "怎么办", "怎么弄": "怎么办", "么办": "怎么办",
    "怎办": "怎么办", "咋样": "怎么样", "咋": "怎么", "冇得": "没有", "冇有": "没有", "冇": "没有",
    "几多钱": "多少钱", "好多钱": "多少钱", "几多": "多少", "多少块钱": "多少钱", "多少块": "多少钱",
    "几个钱": "多少钱", "几钱": "多少钱", "去哪里办": "去哪办", "到哪里办": "去哪办",
    "到哪办": "去哪办", "在哪里办": "去哪办", "在哪办": "去哪办", "去哪儿办": "去哪办", "哪里办": "去哪办",
    "去哪个部门": "去哪办", "找哪个部门": "去哪办", "找什么部门": "去哪办", "哪个部门": "去哪办",
    "需要什么材料": "要什么材料", "需要哪些材料": "要什么材料", "要哪些材料": "要什么材料",
    "要带什么": "要什么材料", "带什么材料": "要什么材料", "要准备什么": "要什么材料",
    "准备什么材料": "要什么材料", "什么手续": "要什么材料", "哪些手续": "要什么材料",
    "多长时间": "多久", "多少天": "多久", "多少时间": "多久", "要几天": "多久", "要几年": "多久",
    "要几个月": "多久",
}  # fmt: skip

# Question-type classes: the canonical forms above, plus close wordings, to a class name.
QUESTION_TYPES: Final[Mapping[str, tuple[str, ...]]] = {
    "cost": ("多少钱", "费用", "收费", "花多少", "要钱", "给多少", "赔多少", "标准"),
    "where": ("去哪办", "去哪", "找谁", "哪里告", "去哪告", "哪里起诉", "在哪", "找哪"),
    "materials": ("要什么材料", "材料", "证明", "证据", "手续"),
    "duration": ("多久", "期限", "时效", "时间", "过期"),
}

_KEEP = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ebef]+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ebef]")
_PARTICLE_EDGES = re.compile(f"^[{PARTICLES}]+|[{PARTICLES}]+$")
_SPACE_NEAR_CJK = re.compile(
    r" (?=[\u3400-\u4dbf\u4e00-\u9fff])|(?<=[\u3400-\u4dbf\u4e00-\u9fff]) "
)


def is_cjk(ch: str) -> bool:
    """Return True for a CJK ideograph."""
    return bool(_CJK.fullmatch(ch))


@lru_cache(maxsize=1)
def _opencc() -> object:
    from opencc_purepy import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert traditional characters to simplified ones (OpenCC t2s)."""
    if not text or text.isascii():
        return text
    converter = _opencc()
    return str(converter.convert(text))  # type: ignore[attr-defined]


class Replacer:
    """Longest-match-first, single-pass replacement that never rewrites inside a protected word.

    Every key and every protected word competes at each position; the longest wins. A protected
    word (a canonical term, a user-dictionary word) is copied unchanged, so `地基 → 宅基地` cannot
    fire inside `宅基地`, and replaced text is never scanned again.
    """

    __slots__ = ("_pattern", "_table")

    def __init__(self, mapping: Mapping[str, str], protected: Iterable[str] = ()) -> None:
        table = {k: v for k, v in mapping.items() if k}
        for word in (*protected, *table.values()):
            if len(word) >= 2 and word not in table:
                table[word] = word
        self._table = table
        keys = sorted(table, key=lambda k: (-len(k), k))
        self._pattern = re.compile("|".join(map(re.escape, keys))) if keys else None

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        table = self._table
        return self._pattern.sub(lambda m: table[m.group(0)], text)


_FILLER_RE = re.compile("|".join(map(re.escape, sorted(FILLERS, key=len, reverse=True))))
_BUILTIN: Final = Replacer(BUILTIN_SYNONYMS)


@lru_cache(maxsize=8)
def _replacer_for(items: frozenset[tuple[str, str]]) -> Replacer:
    merged = dict(BUILTIN_SYNONYMS)
    merged.update(dict(items))
    return Replacer(merged)


def replacer(synonyms: Mapping[str, str], protected: Iterable[str] = ()) -> Replacer:
    """Build the replacer a matcher keeps: built-in forms + KB synonyms, protecting `protected`."""
    merged = dict(BUILTIN_SYNONYMS)
    merged.update(synonyms)
    return Replacer(merged, protected)


def _clean_clauses(text: str) -> str:
    """NFKC, drop controls, lower-case, t2s; then remove fillers and clause-edge particles."""
    text = unicodedata.normalize("NFKC", text)
    if len(text) > 4 * MAX_CHARS:
        text = text[: 2 * MAX_CHARS] + " " + text[-2 * MAX_CHARS :]
    text = to_simplified(text.lower())
    clauses: list[str] = []
    for clause in _KEEP.findall(text):
        clause = _FILLER_RE.sub("", clause)
        clause = _PARTICLE_EDGES.sub("", clause)
        if clause:
            clauses.append(clause)
    joined = " ".join(clauses)
    return _SPACE_NEAR_CJK.sub("", joined)


def normalize(
    text: str,
    synonyms: Mapping[str, str] | Replacer = BUILTIN_SYNONYMS,
) -> str:
    """Return the canonical form of a message: simplified, stripped, colloquial words mapped.

    `synonyms` is the KB's colloquial → canonical map (built-in dialect and question-type forms
    are always applied too), or a prebuilt `Replacer`. Never raises on any `str`.
    """
    if not isinstance(text, str) or not text:
        return ""
    cleaned = _clean_clauses(text)
    if not cleaned:
        return ""
    if isinstance(synonyms, Replacer):
        out = synonyms(cleaned)
    elif synonyms is BUILTIN_SYNONYMS or not synonyms:
        out = _BUILTIN(cleaned)
    else:
        out = _replacer_for(frozenset(synonyms.items()))(cleaned)
    if len(out) > MAX_CHARS:
        half = MAX_CHARS // 2
        out = out[:half] + out[-half:]
    return out


def question_types(text: str) -> frozenset[str]:
    """Return the question-type classes (cost, where, materials, duration) a normalised text asks."""
    return frozenset(k for k, words in QUESTION_TYPES.items() if any(w in text for w in words))
