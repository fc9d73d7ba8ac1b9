"""Find the asked part of a long message: the story's details should support the question.

A villager's long message is mostly story (「我在工地干了三个月……过年了还没给」) and one asked part
(「想问能不能去告他」). `asked_part` splits the raw text into sentences and clauses and returns the
part that asks: the text after an explicit ask marker (想问/请问/问一下), else the last sentence
holding a question cue (吗, ？, 怎么办, 能不能, 多少, 哪里, 谁…), else the last sentence. A short
asked part that names nothing (「怎么办？」) takes the sentence before it along. Messages shorter than
`SHORT` characters are their own asked part.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["ASK_MARKERS", "QUESTION_CUES", "SHORT", "asked_part", "clauses", "sentences"]

SHORT: Final = 30  # characters: shorter messages are one question already
MAX_ASKED: Final = 64  # characters of the asked part kept (the model sees this much)
MIN_ASKED: Final = 8  # an asked part shorter than this takes the previous sentence along
LONG_SENTENCE: Final = 40  # an asked sentence longer than this keeps its last clauses only

# Explicit "here is my question" markers: the asked part starts after the last one.
ASK_MARKERS: Final[tuple[str, ...]] = (
    "想请问一下", "想咨询一下", "我想问一下", "想问一下", "我想请问", "我想咨询", "我想问",
    "请问一下", "想问问", "想请问", "请问", "想问", "问一下", "咨询一下", "请教一下", "请教",
    "我的问题是", "问题是", "这种情况下", "这种情况", "这样的话",
)  # fmt: skip

# Cues that a sentence asks something.
QUESTION_CUES: Final[tuple[str, ...]] = (
    "?", "？", "吗", "么", "怎么", "咋", "如何", "能不能", "能否", "可不可以", "可以不", "可以吗",
    "是否", "是不是", "有没有", "会不会", "要不要", "算不算", "该不该", "多少", "几年", "几个月",
    "几天", "哪里", "哪儿", "哪个", "去哪", "找谁", "谁", "什么", "啥", "为什么", "怎样", "办法",
    "犯法", "违法", "合法", "判几年", "赔多少", "怎么办", "咋办", "怎么样",
)  # fmt: skip

_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])|(?<=\.\s)")
_CLAUSE_END = re.compile(r"(?<=[，,、：:。！？!?；;\n])")
_SPACE = re.compile(r"\s+")


def sentences(text: str) -> list[str]:
    """Split raw text into sentences (on 。！？；, newlines), blanks dropped, order kept."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def clauses(text: str) -> list[str]:
    """Split raw text into clauses (sentences split again on commas and colons)."""
    return [c.strip() for c in _CLAUSE_END.split(text) if c.strip()]


def _asks(sentence: str) -> bool:
    return any(cue in sentence for cue in QUESTION_CUES)


def _content_len(text: str) -> int:
    return len(_SPACE.sub("", re.sub(r"[，,。！？!?；;：:、\"'“”‘’（）()]", "", text)))


def asked_part(text: str) -> str:
    """Return the part of a raw message that asks (the whole message when it is short)."""
    if _content_len(text) < SHORT:
        return text
    tail = text
    cut = max((text.rfind(m) + len(m) for m in ASK_MARKERS if m in text), default=-1)
    if 0 < cut < len(text) and _content_len(text[cut:]) >= MIN_ASKED:
        tail = text[cut:]
        return _trim(tail)
    parts = sentences(text)
    if not parts:
        return text
    pick = next((i for i in range(len(parts) - 1, -1, -1) if _asks(parts[i])), len(parts) - 1)
    asked = parts[pick]
    if _content_len(asked) < MIN_ASKED:
        # 「……工钱一直不给。怎么办？」: the question needs its subject from the clause before.
        before = clauses("".join(parts[:pick]))
        while before and _content_len(asked) < MIN_ASKED + 4:
            asked = before.pop() + asked
    return _trim(asked, LONG_SENTENCE)


def _trim(asked: str, limit: int = MAX_ASKED) -> str:
    """Keep at most `limit` characters: the clauses nearest the end (the question)."""
    if len(asked) <= limit:
        return asked
    kept = ""
    for clause in reversed(clauses(asked)):
        if len(kept) + len(clause) > limit and kept:
            break
        kept = clause + kept
    return kept[-MAX_ASKED:]
