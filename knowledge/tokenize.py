"""Tokens for matching: jieba words (with the KB's user dictionary), characters, pinyin keys.

jieba's main dictionary is loaded once per process (from a cache file in a directory the caller
controls, never jieba's shared default) and copied into one `jieba.Tokenizer` per KB, so that a
reloaded KB gets its own user words without re-reading the dictionary.
"""

from __future__ import annotations

import itertools
import logging
import marshal
import os
import tempfile
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from knowledge.normalize import is_cjk

__all__ = [
    "GENERIC_WORDS",
    "STOPWORDS",
    "WordTokenizer",
    "char_grams",
    "default_cache_dir",
    "load_pinyin_keys",
    "pinyin_grams",
    "pinyin_keys",
]

# Function words: dropped from word tokens.
STOPWORDS: Final = frozenset(
    [
        "的",
        "了",
        "着",
        "过",
        "是",
        "在",
        "和",
        "与",
        "跟",
        "及",
        "或",
        "就",
        "都",
        "也",
        "还",
        "又",
        "再",
        "才",
        "很",
        "太",
        "挺",
        "把",
        "被",
        "给",
        "让",
        "叫",
        "对",
        "向",
        "从",
        "到",
        "由",
        "为",
        "以",
        "我",
        "你",
        "您",
        "他",
        "她",
        "它",
        "我们",
        "你们",
        "他们",
        "她们",
        "咱",
        "咱们",
        "俺",
        "人家",
        "自己",
        "这",
        "那",
        "这个",
        "那个",
        "这些",
        "那些",
        "这样",
        "那样",
        "一个",
        "一下",
        "一点",
        "有点",
        "有些",
        "些",
        "个",
        "啊",
        "吗",
        "呢",
        "吧",
        "呀",
        "哦",
        "嘛",
        "啦",
        "么",
        "之",
        "其",
        "而",
        "但",
        "但是",
        "可是",
        "然后",
        "所以",
        "因为",
        "如果",
        "要是",
        "的话",
        "已经",
        "现在",
        "当时",
        "今天",
        "昨天",
        "去年",
        "今年",
        "上次",
        "一直",
        "总是",
        "老是",
        "就是",
        "还是",
        "还有",
        "或者",
        "一",
        "二",
        "三",
        "两",
        "几",
        "啥",
        "呃",
        "嗯",
        "哈",
        "噢",
        "唉",
        "哎",
        "说",
        "讲",
        "问",
        "请",
        "想",
        "知道",
        "觉得",
        "感觉",
    ]
)

# Words that carry no subject on their own: a message made only of these (and stopwords or
# question-type words) is too vague to match, so the villager is asked to say more.
GENERIC_WORDS: Final = frozenset(
    [
        "怎么办",
        "怎么",
        "怎样",
        "怎么样",
        "如何",
        "什么",
        "为什么",
        "为啥",
        "能",
        "能不能",
        "可以",
        "可不可以",
        "行不行",
        "会不会",
        "要",
        "需要",
        "应该",
        "有",
        "没有",
        "没",
        "不",
        "有没有",
        "是不是",
        "不是",
        "不对",
        "不行",
        "对不对",
        "帮",
        "帮忙",
        "帮助",
        "问题",
        "事",
        "事情",
        "情况",
        "办",
        "弄",
        "搞",
        "处理",
        "解决",
        "咨询",
        "法律",
        "律师",
        "老师",
        "朋友",
        "大哥",
        "大姐",
        "师傅",
        "领导",
        "同志",
        "谢谢",
        "你好",
        "好",
        "好的",
        "行",
        "嗯嗯",
        "哪",
        "哪里",
        "哪儿",
        "谁",
        "多少",
        "多少钱",
        "去哪办",
        "要什么材料",
        "多久",
        "算",
        "管",
        "怎么算",
        "怎么弄",
        "办法",
    ]
)

_FUZZY_INITIALS: Final = {"zh": "z", "ch": "c", "sh": "s", "n": "l", "r": "l", "f": "h"}
_FUZZY_FINALS: Final = (
    ("iang", "ian"), ("uang", "uan"), ("ang", "an"), ("eng", "en"), ("ing", "in"), ("ong", "on"),
)  # fmt: skip
_INITIALS: Final = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h",
                    "j", "q", "x", "r", "z", "c", "s", "y", "w")  # fmt: skip

_jieba_lock = threading.Lock()
_jieba_base: dict[str, tuple[dict[str, int], int]] = {}


def default_cache_dir() -> Path:
    """Return the per-user temporary cache directory used when no cache_dir is configured."""
    try:
        user = str(os.getuid())
    except AttributeError:  # pragma: no cover - Windows
        user = os.environ.get("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"lawbot-matcher-{user}"


MIN_WORD_FREQ: Final = 10  # jieba words rarer than this are dropped from the dictionary


def _base_dictionary(cache_dir: Path) -> tuple[dict[str, int], int]:
    """jieba's main dictionary without its rarest words, loaded once per process.

    The pruned dictionary (105k words instead of 350k; loads in ~0.1 s instead of ~0.6 s) is
    kept in `cache_dir/jieba-pruned-<n>.marshal`. Index and queries use the same dictionary, so
    pruning only changes how obscure words split, never consistency.
    """
    key = str(cache_dir)
    with _jieba_lock:
        if key not in _jieba_base:
            path = cache_dir / f"jieba-pruned-{MIN_WORD_FREQ}.marshal"
            loaded = _read_marshal(path)
            if loaded is None:
                loaded = _prune_full_dictionary(cache_dir)
                _write_marshal(path, loaded)
            _jieba_base[key] = loaded
        return _jieba_base[key]


def _prune_full_dictionary(cache_dir: Path) -> tuple[dict[str, int], int]:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tok: Any = jieba.Tokenizer()
    tok.tmp_dir = str(cache_dir)
    tok.cache_file = "jieba.cache"
    tok.initialize()
    freq: dict[str, int] = {w: f for w, f in tok.FREQ.items() if f >= MIN_WORD_FREQ}
    for word in list(freq):
        for i in range(1, len(word)):
            freq.setdefault(word[:i], 0)
    return freq, int(tok.total)


def _read_marshal(path: Path) -> Any:
    try:
        with path.open("rb") as fh:
            return marshal.load(fh)
    except (OSError, EOFError, ValueError, TypeError):
        return None


def _write_marshal(path: Path, data: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            marshal.dump(data, fh)
        os.replace(tmp, path)
    except OSError:  # a read-only cache only costs start-up time
        pass


_PINYIN: dict[str, str] = {}


def load_pinyin_keys(cache_dir: Path) -> None:
    """Load (or compute once and cache) the fuzzy pinyin key of every common CJK character."""
    with _jieba_lock:
        if _PINYIN:
            return
        path = cache_dir / "pinyin-keys.marshal"
        table = _read_marshal(path)
        if not isinstance(table, dict):
            table = {chr(c): _compute_key(chr(c)) for c in range(0x4E00, 0xA000)}
            _write_marshal(path, table)
        _PINYIN.update(table)


class WordTokenizer:
    """jieba segmentation with the KB's user dictionary; content words only."""

    __slots__ = ("_tok",)

    def __init__(
        self, user_words: Iterable[tuple[str, int, str]] = (), cache_dir: Path | None = None
    ) -> None:
        import jieba

        freq, total = _base_dictionary(cache_dir or default_cache_dir())
        tok: Any = jieba.Tokenizer()
        tok.FREQ = dict(freq)
        tok.total = total
        tok.initialized = True
        for word, count, tag in user_words:
            if word and not word.isspace():
                tok.add_word(word, max(int(count), 1), tag)
        self._tok = tok

    def add_words(self, words: Iterable[str], freq: int = 2000, *, force: bool = False) -> None:
        """Make sure these words stay one token (canonical synonym targets, keywords).

        With `force`, each word gets the frequency jieba needs to keep it whole in any context
        (question-type words such as 多少钱, which jieba would split into 多少 + 钱).
        """
        for word in words:
            if len(word) < 2:
                continue
            if force:
                self._tok.add_word(word, max(int(self._tok.suggest_freq(word, False)), freq))
            elif word not in self._tok.FREQ:
                self._tok.add_word(word, freq)

    def words(self, text: str) -> list[str]:
        """Segment normalised text; drop stopwords and single latin letters."""
        out: list[str] = []
        for word in self._tok.lcut(text, HMM=False):
            word = word.strip()
            if not word or word in STOPWORDS or (word.isascii() and len(word) < 2):
                continue
            out.append(word)
        return out


def char_grams(text: str) -> list[str]:
    """Character unigrams and bigrams of CJK runs; latin/digit runs as single tokens."""
    grams: list[str] = []
    prev = ""
    word = ""
    for ch in text:
        if is_cjk(ch):
            if word:
                grams.append(word)
                word = ""
            grams.append(ch)
            if prev:
                grams.append(prev + ch)
            prev = ch
        else:
            prev = ""
            if ch == " ":
                if word:
                    grams.append(word)
                word = ""
            else:
                word += ch
    if word:
        grams.append(word)
    return grams


def _char_key(ch: str) -> str:
    got = _PINYIN.get(ch)
    return got if got is not None else _compute_key(ch)


@lru_cache(maxsize=4096)
def _compute_key(ch: str) -> str:
    from pypinyin import Style, lazy_pinyin

    syl = lazy_pinyin(ch, style=Style.NORMAL, errors="ignore")
    if not syl:
        return ch
    s: str = syl[0]
    initial = next((i for i in _INITIALS if s.startswith(i)), "")
    final = s[len(initial) :]
    initial = _FUZZY_INITIALS.get(initial, initial)
    for long, short in _FUZZY_FINALS:
        if final.endswith(long):
            final = final[: -len(long)] + short
            break
    return initial + final


def pinyin_keys(text: str) -> list[str]:
    """Fuzzy pinyin syllable of every CJK character (zh=z, n=l, f=h, ang=an, ing=in...)."""
    return [_char_key(ch) for ch in text if is_cjk(ch)]


def pinyin_grams(text: str) -> list[str]:
    """Fuzzy pinyin syllable bigrams (and unigrams) of the CJK characters of a text."""
    keys = pinyin_keys(text)
    grams: list[str] = list(keys)
    grams.extend(f"{a}_{b}" for a, b in itertools.pairwise(keys))
    return grams


def distinct(tokens: Sequence[str]) -> list[str]:
    """Return tokens without repeats, first occurrence order."""
    return list(dict.fromkeys(tokens))
