"""Match a villager's question to FAQ entries, and decide: answer, suggest, escalate or clarify.

Pipeline (all heavy work in `Matcher.__init__`):

1. `normalize` the message (NFKC, t2s, fillers, dialect/question-type forms, KB synonyms).
2. Signals against every phrasing of every entry (never the answers): BM25 over jieba words,
   BM25 over character uni+bigrams, BM25 over fuzzy-pinyin syllable uni+bigrams (homophone typos
   such as 宅机地, 离昏), and — unless `semantic=False` — e5-small cosine. Each is pooled to the
   entry by max over its phrasings; the union of each signal's top entries is the candidate set.
3. Per candidate: those scores, IDF-weighted coverage of the query's words by the entry's words
   (and of the best phrasing's words by the query), rapidfuzz similarity, question-type agreement
   (多少钱 / 去哪办 / 要什么材料 / 多久), and each signal's lead over the best other candidate.
4. A logistic combiner (weights learned leave-one-phrasing-out on the KB, then Platt-calibrated,
   see `knowledge.evaluation.train_combiner`) turns them into a probability of being right.
   Long messages are matched twice: whole, and by their asked part (`knowledge.story`), so the
   story's details support the question instead of drowning it; the e5 vector is of the asked
   part only. Answerability features check the asked aspect and the asker's role
   (`knowledge.aspects`) and how many of the query's words the entry covers (one lure word
   cannot carry a match); an entry's `not_for:` questions guard it.
5. Decision: `answer` when the best score ≥ τ_answer and the runner-up (a different entry) is at
   least δ behind; `confirm` (answer with a check and two alternatives) when the best ≥ τ_confirm;
   `suggest` when the best ≥ τ_low; `escalate` below; `clarify` when no content word is left
   after normalisation (只有"怎么办"、"你好"). Thresholds are fitted with the combiner
   (`knowledge.fitting`) and ship in `knowledge/matcher_weights.py`; explicit settings override.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz

from knowledge.aspects import OPPOSITE, aspects, entry_profile, roles
from knowledge.models import Entry, KnowledgeBase
from knowledge.normalize import QUESTION_TYPES, Replacer, is_cjk, question_types, replacer
from knowledge.signals import BM25Index, FloatArray, pool_max
from knowledge.story import asked_part
from knowledge.tokenize import (
    GENERIC_WORDS,
    WordTokenizer,
    char_grams,
    default_cache_dir,
    load_pinyin_keys,
    pinyin_grams,
)

__all__ = [
    "DECISIONS",
    "FEATURES",
    "Candidate",
    "MatchDecision",
    "MatchResult",
    "MatchSettings",
    "Matcher",
    "QueryFeatures",
    "Thresholds",
    "decide_band",
    "default_thresholds",
    "guarded_scores",
    "result_json",
]

_T = TypeVar("_T")
MatchDecision = Literal["answer", "confirm", "suggest", "escalate", "clarify"]
DECISIONS: Final[tuple[MatchDecision, ...]] = (
    "answer",
    "confirm",
    "suggest",
    "escalate",
    "clarify",
)

RECALL_PER_SIGNAL: Final = 8
INDEX_VERSION: Final = 5  # bump when normalisation, tokens or index layout change
EMBED_CHARS: Final = 64  # e5 sees (the last 64 characters of) the asked part only
NOT_FOR_DEMOTE: Final = 0.3  # a candidate closer to one of its not_for questions: score × this
FEATURES: Final[tuple[str, ...]] = (
    "word", "char", "pinyin", "eword", "echar", "cover_q", "cover_p", "ratio", "partial",
    "qtype_match", "qtype_clash", "word_gap", "char_gap", "pinyin_gap", "eword_gap", "echar_gap",
    "cover_gap", "ratio_gap", "log_len", "unknown_frac", "unknown_n", "e5", "e5_gap", "e5c",
    "e5c_gap",
    # understanding: the asked part of a story, answerability, lure words, not_for
    "ask_word", "ask_char", "ask_cover", "ask_word_gap", "ask_char_gap", "story",
    "aspect_match", "aspect_clash", "role_match", "role_clash", "n_hit", "single_hit",
    "cover_rest", "notfor",
)  # fmt: skip
_SEMANTIC_FEATURES: Final = frozenset({"e5", "e5_gap"})


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Decision bands over the calibrated score: answer (with a lead δ), confirm, suggest."""

    answer: float
    delta: float
    confirm: float
    suggest: float

    def as_dict(self) -> dict[str, float]:
        """Serialisable form."""
        return {"answer": self.answer, "delta": self.delta, "confirm": self.confirm,
                "suggest": self.suggest}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Thresholds:
        """Inverse of `as_dict`."""
        values = {k: data[k] for k in ("answer", "delta", "confirm", "suggest")}
        assert all(isinstance(v, int | float) for v in values.values())
        return cls(**{k: float(v) for k, v in values.items()})  # type: ignore[arg-type]


NO_CONFIRM: Final = 2.0  # a confirm threshold above any score: no confirm band
_FALLBACK_THRESHOLDS: Final = Thresholds(answer=0.65, delta=0.10, confirm=NO_CONFIRM, suggest=0.25)


@dataclass(frozen=True, slots=True)
class MatchSettings:
    """Decision thresholds and pipeline switches (the `[matching]` config table).

    A threshold left at None takes the value fitted with the shipped combiner (see
    `knowledge/matcher_weights.py`). Setting τ_high, τ_low or δ explicitly without τ_confirm
    turns the confirm band off (the three-band rule of earlier configs).
    """

    tau_high: float | None = None
    tau_low: float | None = None
    delta: float | None = None
    tau_confirm: float | None = None
    semantic: bool = False
    max_suggestions: int = 3
    cache_dir: Path | None = None

    def thresholds(self, fitted: Thresholds) -> Thresholds:
        """These settings' bands, falling back to `fitted` for what is not set."""
        explicit = any(v is not None for v in (self.tau_high, self.tau_low, self.delta))
        answer = fitted.answer if self.tau_high is None else self.tau_high
        suggest = fitted.suggest if self.tau_low is None else self.tau_low
        delta = fitted.delta if self.delta is None else self.delta
        if self.tau_confirm is not None:
            confirm = min(self.tau_confirm, answer)
        else:
            confirm = NO_CONFIRM if explicit else fitted.confirm
        return Thresholds(answer, delta, confirm, min(suggest, answer))


@dataclass(frozen=True, slots=True)
class Candidate:
    """One entry and its calibrated confidence (probability it is what the villager asked)."""

    entry: Entry
    score: float


@dataclass(frozen=True, slots=True)
class MatchResult:
    """What to do with one message."""

    decision: MatchDecision
    normalized: str
    candidates: tuple[Candidate, ...] = ()
    asked: str = ""  # the normalised asked part of the message (the message itself if short)

    @property
    def entry(self) -> Entry | None:
        """The entry shown: answered (`answer`) or answered with a check (`confirm`)."""
        if self.decision in ("answer", "confirm") and self.candidates:
            return self.candidates[0].entry
        return None

    @property
    def alternatives(self) -> tuple[Candidate, ...]:
        """The next two candidates offered under a `confirm` (「不是这个？」)."""
        return self.candidates[1:3] if self.decision == "confirm" else ()

    @property
    def score(self) -> float:
        """The best candidate's score, 0.0 if there is none."""
        return self.candidates[0].score if self.candidates else 0.0


@dataclass(frozen=True, slots=True)
class QueryFeatures:
    """Candidates (entry indices, best first by no particular order) and their feature rows."""

    normalized: str
    content: bool
    entries: tuple[int, ...] = ()
    rows: FloatArray = field(default_factory=lambda: np.zeros((0, len(FEATURES)), np.float32))
    asked: str = ""


@dataclass(frozen=True, slots=True)
class _Query:
    text: str
    words: list[str]
    chars: list[str]
    pinyin: list[str]
    qtypes: frozenset[str]
    vec: FloatArray | None
    asked: str = ""
    ask_words: list[str] = field(default_factory=list)
    ask_chars: list[str] = field(default_factory=list)
    aspects: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()

    @property
    def story(self) -> bool:
        """True when the asked part is not the whole message."""
        return bool(self.asked) and self.asked != self.text


@dataclass(frozen=True, slots=True)
class Combiner:
    """Logistic combiner over standardised features, followed by Platt calibration."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    platt: tuple[float, float] = (1.0, 0.0)

    def columns(self) -> list[int]:
        """Indices of this combiner's features in FEATURES."""
        return [FEATURES.index(n) for n in self.names]

    def raw(self, rows: FloatArray) -> FloatArray:
        """Logit before calibration."""
        x = rows[:, self.columns()]
        z = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.scale, np.float32)
        return (z @ np.asarray(self.coef, np.float32) + np.float32(self.intercept)).astype(
            np.float32
        )

    def __call__(self, rows: FloatArray) -> FloatArray:
        """Calibrated probability for each row."""
        a, b = self.platt
        logit = np.clip(a * self.raw(rows) + b, -30.0, 30.0)
        return np.asarray(1.0 / (1.0 + np.exp(-logit)), dtype=np.float32)

    def as_dict(self) -> dict[str, object]:
        """Serialisable form (see knowledge/matcher_weights.py)."""
        return {
            "names": list(self.names),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "platt": list(self.platt),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Combiner:
        """Inverse of `as_dict`."""

        def floats(key: str) -> tuple[float, ...]:
            value = data[key]
            assert isinstance(value, list | tuple)
            return tuple(float(v) for v in value)

        names = data["names"]
        assert isinstance(names, list | tuple)
        platt = floats("platt") if "platt" in data else (1.0, 0.0)
        intercept = data["intercept"]
        assert isinstance(intercept, int | float)
        return cls(
            names=tuple(str(n) for n in names),
            mean=floats("mean"),
            scale=floats("scale"),
            coef=floats("coef"),
            intercept=float(intercept),
            platt=(platt[0], platt[1]),
        )


def _weights(semantic: bool) -> dict[str, object] | None:
    try:
        from knowledge.matcher_weights import WEIGHTS
    except ImportError:  # pragma: no cover - weights not generated yet
        return None
    return WEIGHTS.get("semantic" if semantic else "lexical")


def default_combiner(semantic: bool) -> Combiner:
    """The shipped learned combiner for this mode (a hand-set fallback if none was trained)."""
    data = _weights(semantic)
    if data is not None:
        comb = Combiner.from_dict(data)
        if all(n in FEATURES for n in comb.names):
            return comb
    names: tuple[str, ...] = ("word", "char", "pinyin", "cover_q", "ratio", "word_gap", "char_gap")
    if semantic:
        names = (*names, "e5", "e5_gap")
    coef = {"word": 1.0, "char": 1.5, "pinyin": 1.0, "cover_q": 1.0, "ratio": 0.5,
            "word_gap": 1.0, "char_gap": 2.0, "e5": 1.0, "e5_gap": 1.5}  # fmt: skip
    mean = {"e5": 0.85}
    return Combiner(
        names=names,
        mean=tuple(mean.get(n, 0.0) for n in names),
        scale=tuple(0.05 if n.startswith("e5") else 0.5 for n in names),
        coef=tuple(coef[n] for n in names),
        intercept=-6.0,
    )


def default_thresholds(semantic: bool) -> Thresholds:
    """The thresholds fitted with the shipped combiner of this mode."""
    data = _weights(semantic)
    th = data.get("thresholds") if data is not None else None
    return Thresholds.from_dict(th) if isinstance(th, dict) else _FALLBACK_THRESHOLDS


class Matcher:
    """Index a knowledge base once; then `match` one message at a time (thread-safe)."""

    def __init__(
        self,
        kb: KnowledgeBase,
        settings: MatchSettings,
        combiner: Combiner | None = None,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.kb = kb
        self.settings = settings
        self.cache_dir = settings.cache_dir or default_cache_dir()
        self.combiner = combiner or default_combiner(settings.semantic)
        if thresholds is None:
            thresholds = (
                default_thresholds(settings.semantic) if combiner is None else _FALLBACK_THRESHOLDS
            )
        self.fitted = thresholds
        self.thresholds = settings.thresholds(thresholds)
        self._replace: Replacer = kb_replacer(kb)
        self._tok = WordTokenizer(kb.lexicon.words, self.cache_dir)
        self._tok.add_words(set(kb.lexicon.synonyms.values()))
        self._tok.add_words(k for e in kb.entries for k in e.keywords)
        self._tok.add_words(w for ws in QUESTION_TYPES.values() for w in ws)
        self._tok.add_words(("多少钱", "去哪办", "要什么材料", "多久"), force=True)
        self.entries: tuple[Entry, ...] = kb.entries
        load_pinyin_keys(self.cache_dir)
        if not self._load_index(kb):
            self._build_index()
            self._save_index(kb)
        texts = list(self.phrasings)
        self.normalize("請問")  # load OpenCC now, not on the first question
        self._embedder = None
        self._emb: npt.NDArray[np.float16] | None = None  # phrasing vectors, half precision
        self._centroids: FloatArray | None = None
        if settings.semantic:
            from knowledge.semantic import Embedder, embed_phrasings

            self._embedder = Embedder()
            matrix = embed_phrasings(self._embedder, texts, self.cache_dir, kb.fingerprint).matrix
            self._centroids = self._centroid_matrix(matrix)
            self._emb = matrix.astype(np.float16)
            del matrix
        self.match("邻居占了我家宅基地怎么办")  # warm every lazy path before the first villager

    def _build_index(self) -> None:
        """Normalise and tokenise every phrasing; build the BM25 indexes (streaming the n-grams)."""
        texts: list[str] = []
        owner: list[int] = []
        starts: list[int] = []
        for i, entry in enumerate(self.entries):
            starts.append(len(texts))
            for phrasing in entry.phrasings:
                texts.append(self.normalize(phrasing))
                owner.append(i)
        self.phrasings: tuple[str, ...] = tuple(texts)
        self.owner = np.asarray(owner, dtype=np.int32)
        self.starts = np.asarray(starts, dtype=np.int64)
        words = [[sys.intern(w) for w in self._tok.words(t)] for t in texts]
        self.word_index = BM25Index(words)
        idf = self.word_index.idf
        self.ph_mass = np.asarray([sum(idf(w) for w in set(ws)) for ws in words], np.float32)
        self.char_index = BM25Index(char_grams(t) for t in texts)
        self.pinyin_index = BM25Index(pinyin_grams(t) for t in texts)
        self.entry_qtypes: list[frozenset[str]] = []
        self.entry_aspects: list[frozenset[str]] = []
        self.entry_roles: list[frozenset[str]] = []
        self.keyword_words: list[tuple[str, ...]] = []
        pool: dict[object, object] = {}

        def shared(value: _T) -> _T:
            """One object per distinct value (most entries share their small sets)."""
            return pool.setdefault(value, value)  # type: ignore[return-value]

        self.not_for: list[tuple[str, ...]] = []
        for i, entry in enumerate(self.entries):
            lo, hi = self._span(i)
            keywords = [
                sys.intern(w) for k in entry.keywords for w in self._tok.words(self.normalize(k))
            ]
            self.keyword_words.append(shared(tuple(keywords)))
            self.entry_qtypes.append(shared(_entry_qtypes(self.phrasings[lo:hi])))
            asp, rol = entry_profile(self.phrasings[lo:hi])
            self.entry_aspects.append(shared(asp))
            self.entry_roles.append(shared(rol))
            self.not_for.append(tuple(t for t in map(self.normalize, entry.not_for) if t))
        spans = [self._span(i) for i in range(len(self.entries))]
        self.entry_word_index = BM25Index(
            [w for ws in words[lo:hi] for w in ws] + list(self.keyword_words[i])
            for i, (lo, hi) in enumerate(spans)
        )
        self.entry_char_index = BM25Index(
            [c for t in texts[lo:hi] for c in char_grams(t)] for lo, hi in spans
        )

    _STATE: Final = (
        "phrasings", "owner", "starts", "ph_mass", "word_index", "char_index", "pinyin_index",
        "entry_qtypes", "entry_aspects", "entry_roles", "keyword_words", "not_for",
        "entry_word_index", "entry_char_index",
    )  # fmt: skip

    def _index_path(self, kb: KnowledgeBase) -> Path | None:
        digest = hashlib.sha256(kb.fingerprint.encode())
        for entry in self.entries:
            digest.update(
                "\x1f".join(
                    (entry.id, *entry.phrasings, *entry.keywords, "\x1e", *entry.not_for)
                ).encode()
            )
        digest.update(repr(sorted(kb.lexicon.synonyms.items())).encode())
        digest.update(repr(kb.lexicon.words).encode())
        return self.cache_dir / f"index-v{INDEX_VERSION}-{digest.hexdigest()[:20]}.pkl"

    def _load_index(self, kb: KnowledgeBase) -> bool:
        """Restore a built index of this KB from the cache directory, if there is one."""
        path = self._index_path(kb)
        if path is None or not path.is_file():
            return False
        try:
            with path.open("rb") as fh:
                state = pickle.load(fh)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError):
            return False
        if not isinstance(state, dict) or set(state) != set(self._STATE):
            return False
        if len(state["starts"]) != len(self.entries):
            return False
        for name in self._STATE:
            setattr(self, name, state[name])
        return True

    def _save_index(self, kb: KnowledgeBase) -> None:
        path = self._index_path(kb)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            with tmp.open("wb") as fh:
                pickle.dump({n: getattr(self, n) for n in self._STATE}, fh, protocol=5)
            os.replace(tmp, path)
        except OSError:  # a read-only cache only costs start-up time
            pass

    def _centroid_matrix(self, emb: FloatArray) -> FloatArray:
        sums = np.add.reduceat(emb, self.starts, axis=0) if len(emb) else emb
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return np.asarray(sums / np.maximum(norms, 1e-9), dtype=np.float32)

    # -- public ---------------------------------------------------------------------------

    @property
    def semantic(self) -> bool:
        """True when the e5 signal is on."""
        return self._emb is not None

    def phrasing_vector(self, phrasing: int) -> FloatArray:
        """The e5 vector of one indexed phrasing (semantic mode)."""
        assert self._emb is not None
        return np.asarray(self._emb[phrasing], dtype=np.float32)

    def with_kb(self, kb: KnowledgeBase) -> Matcher:
        """A new matcher for a reloaded KB, same settings, combiner and thresholds."""
        return Matcher(kb, self.settings, self.combiner, self.fitted)

    def normalize(self, text: str) -> str:
        """Normalise with this KB's synonym map (see `knowledge.normalize.normalize`)."""
        from knowledge.normalize import normalize

        return normalize(text, self._replace)

    def asked(self, text: str, normalized: str | None = None) -> str:
        """The normalised asked part of a raw message (its whole normal form when short)."""
        norm = self.normalize(text) if normalized is None else normalized
        part = asked_part(text)
        if part == text:
            return norm
        asked = self.normalize(part)
        return asked if asked else norm

    def embed_message(self, text: str) -> FloatArray | None:
        """The e5 vector of a raw message (semantic mode; None when the signal is off)."""
        if self._embedder is None:
            return None
        return self._embedder.query(text)

    def embed_texts(self, texts: list[str]) -> FloatArray:
        """e5 vectors of normalised texts through the on-disk store (evaluation, fitting)."""
        if self._embedder is None:
            raise RuntimeError("the semantic signal is off")
        from knowledge.semantic import VectorStore

        clipped = [t[-EMBED_CHARS:] for t in texts]
        return VectorStore(self.cache_dir).embed(self._embedder, clipped)

    def match(self, text: str) -> MatchResult:
        """Score the message against the KB and decide what to do with it."""
        feats = self.features(text)
        return self.decide(feats, self.scores(feats))

    def scores(self, feats: QueryFeatures) -> FloatArray:
        """Calibrated probability of each candidate of `feats` (not_for guard applied)."""
        return guarded_scores(self.combiner, feats.rows)

    def decide(
        self, feats: QueryFeatures, scores: FloatArray, settings: MatchSettings | None = None
    ) -> MatchResult:
        """Apply the decision rule to scored candidates."""
        s = settings or self.settings
        th = self.thresholds if settings is None else settings.thresholds(self.fitted)
        if not feats.content:
            return MatchResult("clarify", feats.normalized, (), feats.asked)
        order = np.argsort(-scores, kind="stable")[: max(s.max_suggestions, 3)]
        cands = tuple(
            Candidate(self.entries[feats.entries[int(j)]], round(float(scores[j]), 4))
            for j in order
        )
        if not cands:
            return MatchResult("escalate", feats.normalized, (), feats.asked)
        decision = decide_band(cands[0].score, cands[1].score if len(cands) > 1 else 0.0, th)
        shown = cands[: max(s.max_suggestions, 1)]
        if decision == "confirm":
            shown = cands[:3]
        return MatchResult(decision, feats.normalized, shown, feats.asked)

    # -- features -------------------------------------------------------------------------

    def _span(self, entry: int) -> tuple[int, int]:
        lo = int(self.starts[entry])
        hi = int(self.starts[entry + 1]) if entry + 1 < len(self.starts) else len(self.phrasings)
        return lo, hi

    def query(self, normalized: str, vec: FloatArray | None = None, asked: str = "") -> _Query:
        """Tokenise a normalised message (the embedding is added by `features` when needed)."""
        story = bool(asked) and asked != normalized
        words = self._tok.words(normalized)
        chars = char_grams(normalized)
        return _Query(
            text=normalized,
            words=words,
            chars=chars,
            pinyin=pinyin_grams(normalized),
            qtypes=question_types(normalized),
            vec=vec,
            asked=asked or normalized,
            ask_words=self._tok.words(asked) if story else words,
            ask_chars=char_grams(asked) if story else chars,
            aspects=aspects(asked or normalized),
            roles=roles(normalized),
        )

    def has_content(self, q: _Query) -> bool:
        """True if some word is neither generic (怎么办, 你好) nor a question-type word."""
        for w in q.words:
            if w in GENERIC_WORDS or w.isdigit():
                continue
            if any(is_cjk(ch) for ch in w) or self.word_index.known(w):
                return True
        return False

    def features(
        self,
        text: str,
        *,
        normalized: str | None = None,
        vec: FloatArray | None = None,
        exclude_phrasing: int | None = None,
        exclude_entry: int | None = None,
        asked: str | None = None,
    ) -> QueryFeatures:
        """Candidates and feature rows for a message.

        `exclude_phrasing` / `exclude_entry` hide one phrasing / one whole entry from the index:
        leave-one-out evaluation and combiner training use them. `vec` is the e5 vector of the
        asked part and `asked` the normalised asked part, when the caller has them.
        """
        norm = self.normalize(text) if normalized is None else normalized
        if not norm or not self.phrasings:
            return QueryFeatures(norm, bool(norm) and self._content_of(norm), asked=norm)
        ask = self.asked(text, norm) if asked is None else asked
        q = self.query(norm, vec, ask)
        if not self.has_content(q):
            return QueryFeatures(norm, False, asked=ask)
        if q.vec is None and self._embedder is not None:
            q = replace(q, vec=self._embedder.query(q.asked[-EMBED_CHARS:]))
        elif q.vec is not None:
            q = replace(q, vec=np.asarray(q.vec, dtype=np.float32))
        mask: list[int] = []
        if exclude_phrasing is not None:
            mask.append(exclude_phrasing)
        if exclude_entry is not None:
            mask.extend(range(*self._span(exclude_entry)))
        pools = self._pools(q, mask, exclude_phrasing, exclude_entry)
        cand: list[int] = []
        for name in ("word", "char", "pinyin", "eword", "echar", "e5c", "ask_word",
                     "ask_char"):  # fmt: skip
            pool = pools.get(name)
            if pool is None:
                continue
            k = min(RECALL_PER_SIGNAL, pool.size)
            top = np.argpartition(-pool, k - 1)[:k] if k < pool.size else np.arange(pool.size)
            cand.extend(int(i) for i in top if pool[i] > 0)
        cand = [c for c in dict.fromkeys(cand) if c != exclude_entry]
        if not cand:
            return QueryFeatures(norm, True, asked=ask)
        if self._emb is not None and q.vec is not None:
            pools["e5"] = self._e5_max(q.vec, cand, mask)
        rows = self._rows(q, cand, pools, set(mask))
        return QueryFeatures(norm, True, tuple(cand), rows, ask)

    def _pools(
        self,
        q: _Query,
        mask: list[int],
        exclude_phrasing: int | None,
        exclude_entry: int | None,
    ) -> dict[str, FloatArray]:
        """Entry-level signal arrays (one value per entry), with hidden phrasings/entries."""
        pools: dict[str, FloatArray] = {}
        for name, index, terms in (
            ("word", self.word_index, q.words),
            ("char", self.char_index, q.chars),
            ("pinyin", self.pinyin_index, q.pinyin),
        ):
            pools[name] = pool_max(self._normalised(index, terms, mask), self.starts)
        if q.story:
            pools["ask_word"] = pool_max(
                self._normalised(self.word_index, q.ask_words, mask), self.starts
            )
            pools["ask_char"] = pool_max(
                self._normalised(self.char_index, q.ask_chars, mask), self.starts
            )
        for name, index, terms in (
            ("eword", self.entry_word_index, q.words),
            ("echar", self.entry_char_index, q.chars),
        ):
            pools[name] = self._normalised(index, terms, [])
        if self._emb is not None and self._centroids is not None and q.vec is not None:
            pools["e5c"] = (self._centroids @ q.vec).astype(np.float32)
        if exclude_entry is not None:
            for name in ("eword", "echar"):
                pools[name][exclude_entry] = 0.0
            if "e5c" in pools:
                pools["e5c"][exclude_entry] = -1.0
        if exclude_phrasing is not None:
            owner = int(self.owner[exclude_phrasing])
            lo, hi = self._span(owner)
            rest = [self.phrasings[p] for p in range(lo, hi) if p != exclude_phrasing]
            words = [w for t in rest for w in self._tok.words(t)] + list(self.keyword_words[owner])
            chars = [c for t in rest for c in char_grams(t)]
            for name, index, terms, doc in (
                ("eword", self.entry_word_index, q.words, words),
                ("echar", self.entry_char_index, q.chars, chars),
            ):
                top = index.self_score(terms)
                pools[name][owner] = index.score_doc(terms, doc) / top if top > 0 else 0.0
            if "e5c" in pools and self._emb is not None and q.vec is not None:
                keep = [p for p in range(lo, hi) if p != exclude_phrasing]
                if keep:
                    centre = self._emb[keep].astype(np.float32).sum(axis=0)
                    centre /= max(float(np.linalg.norm(centre)), 1e-9)
                    pools["e5c"][owner] = float(centre @ q.vec)
                else:
                    pools["e5c"][owner] = -1.0
        return pools

    def _e5_max(self, vec: FloatArray, cand: list[int], mask: list[int]) -> FloatArray:
        """Best phrasing cosine of each candidate entry (others -1): only their rows are read."""
        assert self._emb is not None
        spans = [self._span(ei) for ei in cand]
        rows = np.concatenate([np.arange(lo, hi) for lo, hi in spans]).astype(np.int64)
        cos = self._emb[rows].astype(np.float32) @ vec
        if mask:
            cos[np.isin(rows, mask)] = -1.0
        out = np.full(len(self.entries), -1.0, np.float32)
        sizes = [hi - lo for lo, hi in spans]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        keep = np.asarray(sizes) > 0
        if keep.any():
            best = np.maximum.reduceat(cos, offsets[keep])
            out[np.asarray(cand, dtype=np.int64)[keep]] = best
        return out

    def _content_of(self, norm: str) -> bool:
        return self.has_content(self.query(norm))

    @staticmethod
    def _normalised(index: BM25Index, terms: Sequence[str], mask: list[int]) -> FloatArray:
        raw = index.scores(terms)
        if mask:
            raw[mask] = 0.0
        top = index.self_score(terms)
        return raw / np.float32(top) if top > 0 else raw

    def _rows(
        self, q: _Query, cand: list[int], pools: dict[str, FloatArray], masked: set[int]
    ) -> FloatArray:
        idf = self.word_index.idf
        q_words = list(dict.fromkeys(q.words))
        q_idf = {w: idf(w) for w in q_words}
        q_mass = sum(q_idf.values()) or 1.0
        q_set = set(q_words)
        content = [w for w in q_words if len(w) >= 2 and w not in GENERIC_WORDS]
        a_words = list(dict.fromkeys(q.ask_words))
        a_idf = {w: idf(w) for w in a_words}
        a_mass = sum(a_idf.values()) or 1.0
        # Words the KB has never seen (hidden phrasings do not count as seen): novelty that
        # tells a near-miss question (宅基地上种什么菜) from a paraphrase.
        hidden = [frozenset(self._tok.words(self.phrasings[p])) for p in masked]
        novel = [
            w
            for w in q_words
            if w not in GENERIC_WORDS and self.word_index.df(w) <= sum(w in h for h in hidden)
        ]
        unknown = sum(q_idf[w] for w in novel) / q_mass
        n = len(cand)
        cols = {name: np.zeros(n, np.float32) for name in FEATURES}
        # which candidate entries hold each query word: one vectorised lookup per word
        cand_arr = np.asarray(cand, dtype=np.int32)
        vocab_words = list(dict.fromkeys([*q_words, *a_words]))
        holds = {
            w: set(cand_arr[np.isin(cand_arr, self.entry_word_index.postings(w))].tolist())
            for w in vocab_words
        }
        # IDF mass of the query's words in each candidate phrasing (for cover_p)
        spans = [self._span(ei) for ei in cand]
        ph_ids = np.concatenate([np.arange(lo, hi) for lo, hi in spans]).astype(np.int32)
        overlap = np.zeros(ph_ids.size, np.float32)
        for w in q_set:
            overlap += np.isin(ph_ids, self.word_index.postings(w)) * np.float32(q_idf[w])
        mass = self.ph_mass[ph_ids]
        share = np.where(mass > 0, overlap / np.maximum(mass, 1e-9), 0.0)
        share_of = dict(zip(ph_ids.tolist(), share.tolist(), strict=True))
        for j, ei in enumerate(cand):
            lo, hi = spans[j]
            phs = [p for p in range(lo, hi) if p not in masked]
            if masked and lo <= min(masked) < hi:
                vocab: frozenset[str] = frozenset().union(
                    *(self._tok.words(self.phrasings[p]) for p in phs), self.keyword_words[ei]
                )
                held = {w for w in vocab_words if w in vocab}
            else:
                held = {w for w in vocab_words if ei in holds[w]}
            hits = [q_idf[w] for w in q_words if w in held]
            cols["cover_q"][j] = sum(hits) / q_mass
            cols["cover_rest"][j] = (sum(hits) - max(hits, default=0.0)) / q_mass
            n_hit = sum(w in held for w in content)
            cols["n_hit"][j] = n_hit
            cols["single_hit"][j] = float(n_hit <= 1)
            cols["ask_cover"][j] = sum(v for w, v in a_idf.items() if w in held) / a_mass
            best_p = 0.0
            best_ratio = 0.0
            best_partial = 0.0
            for p in phs:
                best_p = max(best_p, share_of[p])
                text = self.phrasings[p]
                best_ratio = max(best_ratio, fuzz.ratio(q.text, text))
                best_partial = max(best_partial, fuzz.partial_ratio(q.text, text))
            cols["cover_p"][j] = best_p
            cols["ratio"][j] = best_ratio / 100.0
            cols["partial"][j] = best_partial / 100.0
            guards = self.not_for[ei]
            if guards:
                ask_ratio = max((fuzz.ratio(q.asked, self.phrasings[p]) for p in phs), default=0)
                near = max(max(fuzz.ratio(q.text, g), fuzz.ratio(q.asked, g)) for g in guards)
                if near >= 50 and near > max(best_ratio, ask_ratio):
                    cols["notfor"][j] = (near - max(best_ratio, ask_ratio)) / 100.0
            types = self.entry_qtypes[ei]
            if q.qtypes:
                cols["qtype_match"][j] = float(bool(q.qtypes & types))
                cols["qtype_clash"][j] = float(not (q.qtypes & types) and bool(types))
            e_asp = self.entry_aspects[ei]
            if q.aspects and e_asp:
                cols["aspect_match"][j] = float(bool(q.aspects & e_asp))
                cols["aspect_clash"][j] = float(not (q.aspects & e_asp))
            e_rol = self.entry_roles[ei]
            if q.roles and e_rol:
                match = bool(q.roles & e_rol)
                cols["role_match"][j] = float(match)
                cols["role_clash"][j] = float(
                    not match and any(OPPOSITE[r] in e_rol for r in q.roles)
                )
        idx = np.asarray(cand, dtype=np.int64)
        for name, pool in pools.items():
            cols[name] = pool[idx]
            cols[name + "_gap"] = _gap(cols[name])
        if not q.story:
            for name in ("word", "char"):
                cols["ask_" + name] = cols[name]
                cols["ask_" + name + "_gap"] = cols[name + "_gap"]
        else:
            cols["story"][:] = 1.0
        cols["cover_gap"] = _gap(cols["cover_q"])
        cols["ratio_gap"] = _gap(cols["ratio"])
        cols["log_len"][:] = math.log1p(len(q.text))
        cols["unknown_frac"][:] = unknown
        cols["unknown_n"][:] = len(novel)
        return np.stack([cols[name] for name in FEATURES], axis=1).astype(np.float32)


_NOTFOR_COL: Final = FEATURES.index("notfor")


def kb_replacer(kb: KnowledgeBase) -> Replacer:
    """The normaliser's synonym map of a KB (its lexicon words are never rewritten)."""
    return replacer(kb.lexicon.synonyms, [w for w, _, _ in kb.lexicon.words])


def guarded_scores(combiner: Combiner, rows: FloatArray) -> FloatArray:
    """The combiner's probabilities, demoted where a candidate's not_for question is closer."""
    if not len(rows):
        return np.zeros(0, np.float32)
    probs = combiner(rows)
    guarded = rows[:, _NOTFOR_COL] > 0
    if guarded.any():
        probs = np.where(guarded, probs * np.float32(NOT_FOR_DEMOTE), probs)
    return probs.astype(np.float32)


def decide_band(best: float, second: float, th: Thresholds) -> MatchDecision:
    """The band of a best score (and the runner-up's) under thresholds `th` (content present)."""
    if best >= th.answer and best - second >= th.delta:
        return "answer"
    if best >= th.confirm:
        return "confirm"
    if best >= th.suggest:
        return "suggest"
    return "escalate"


def result_json(question: str, result: MatchResult) -> dict[str, object]:
    """The `lawbot ask --json` object for one question.

    `answer` and `confirm` carry the shown entry (`faq_id`, `answer`, ...); `suggestions` are the
    listed candidates of `suggest` and the alternatives of `confirm`, empty otherwise.
    """
    entry = result.entry
    listed = (
        result.candidates
        if result.decision == "suggest"
        else result.alternatives
        if result.decision == "confirm"
        else ()
    )
    return {
        "question": question,
        "decision": result.decision,
        "faq_id": entry.id if entry else None,
        "topic": entry.topic if entry else None,
        "score": round(result.score, 4),
        "answer": entry.answer if entry else None,
        "basis": [c.as_json() for c in entry.basis] if entry else [],
        "suggestions": [
            {"faq_id": c.entry.id, "question": c.entry.question, "score": round(c.score, 4)}
            for c in listed
        ],
    }


def _gap(values: FloatArray) -> FloatArray:
    """Each value minus the best of the other values (positive only for the leader)."""
    if values.size <= 1:
        return values.copy()
    order = np.argsort(-values)
    best, second = values[order[0]], values[order[1]]
    others = np.full(values.shape, best, dtype=np.float32)
    others[order[0]] = second
    return (values - others).astype(np.float32)


def _entry_qtypes(phrasings: Sequence[str]) -> frozenset[str]:
    """Question types an entry asks: its canonical question's, plus any in ≥ 2 phrasings."""
    if not phrasings:
        return frozenset()
    counts: dict[str, int] = {}
    for p in phrasings:
        for t in question_types(p):
            counts[t] = counts.get(t, 0) + 1
    return question_types(phrasings[0]) | frozenset(t for t, c in counts.items() if c >= 2)
