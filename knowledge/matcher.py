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
5. Decision: `answer` when the best score ≥ τ_high and the runner-up (a different entry) is at
   least δ behind; `suggest` when the best ≥ τ_low; `escalate` below; `clarify` when no content
   word is left after normalisation (只有"怎么办"、"你好").
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Literal

import numpy as np
from rapidfuzz import fuzz

from knowledge.models import Entry, KnowledgeBase
from knowledge.normalize import QUESTION_TYPES, Replacer, is_cjk, question_types, replacer
from knowledge.signals import BM25Index, FloatArray, pool_max
from knowledge.tokenize import (
    GENERIC_WORDS,
    WordTokenizer,
    char_grams,
    default_cache_dir,
    load_pinyin_keys,
    pinyin_grams,
)

__all__ = [
    "FEATURES",
    "Candidate",
    "Decision",
    "MatchResult",
    "MatchSettings",
    "Matcher",
    "QueryFeatures",
]

Decision = Literal["answer", "suggest", "escalate", "clarify"]

RECALL_PER_SIGNAL: Final = 8
INDEX_VERSION: Final = 2  # bump when normalisation, tokens or index layout change
EMBED_CHARS: Final = 128  # e5 sees the last 128 characters of a long story
FEATURES: Final[tuple[str, ...]] = (
    "word", "char", "pinyin", "eword", "echar", "cover_q", "cover_p", "ratio", "partial",
    "qtype_match", "qtype_clash", "word_gap", "char_gap", "pinyin_gap", "eword_gap", "echar_gap",
    "cover_gap", "ratio_gap", "log_len", "unknown_frac", "unknown_n", "e5", "e5_gap", "e5c",
    "e5c_gap",
)  # fmt: skip
_SEMANTIC_FEATURES: Final = frozenset({"e5", "e5_gap"})


@dataclass(frozen=True, slots=True)
class MatchSettings:
    """Decision thresholds and pipeline switches (the `[matching]` config table)."""

    tau_high: float = 0.65
    tau_low: float = 0.25
    delta: float = 0.10
    # e5-small did not earn its place on the dev set (top-1 0.94 with it, 0.96 without, and more
    # out-of-scope false answers at equal coverage): off by default, see the matcher notes.
    semantic: bool = False
    max_suggestions: int = 3
    cache_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """One entry and its calibrated confidence (probability it is what the villager asked)."""

    entry: Entry
    score: float


@dataclass(frozen=True, slots=True)
class MatchResult:
    """What to do with one message."""

    decision: Decision
    normalized: str
    candidates: tuple[Candidate, ...] = ()

    @property
    def entry(self) -> Entry | None:
        """The answered entry when the decision is `answer`."""
        return self.candidates[0].entry if self.decision == "answer" and self.candidates else None

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


@dataclass(frozen=True, slots=True)
class _Query:
    text: str
    words: list[str]
    chars: list[str]
    pinyin: list[str]
    qtypes: frozenset[str]
    vec: FloatArray | None


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


def default_combiner(semantic: bool) -> Combiner:
    """The shipped learned combiner for this mode (a hand-set fallback if none was trained)."""
    try:
        from knowledge.matcher_weights import WEIGHTS
    except ImportError:  # pragma: no cover - weights not generated yet
        WEIGHTS = {}
    data = WEIGHTS.get("semantic" if semantic else "lexical")
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


class Matcher:
    """Index a knowledge base once; then `match` one message at a time (thread-safe)."""

    def __init__(
        self, kb: KnowledgeBase, settings: MatchSettings, combiner: Combiner | None = None
    ) -> None:
        self.kb = kb
        self.settings = settings
        self.cache_dir = settings.cache_dir or default_cache_dir()
        self.combiner = combiner or default_combiner(settings.semantic)
        protected = [w for w, _, _ in kb.lexicon.words]
        self._replace: Replacer = replacer(kb.lexicon.synonyms, protected)
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
        self._emb: FloatArray | None = None
        self._centroids: FloatArray | None = None
        if settings.semantic:
            from knowledge.semantic import Embedder, embed_phrasings

            self._embedder = Embedder()
            self._emb = embed_phrasings(
                self._embedder, texts, self.cache_dir, kb.fingerprint
            ).matrix
            self._centroids = self._centroid_matrix(self._emb)
        self.match("邻居占了我家宅基地怎么办")  # warm every lazy path before the first villager

    def _build_index(self) -> None:
        """Normalise and tokenise every phrasing; build the BM25 indexes."""
        texts: list[str] = []
        owner: list[int] = []
        starts: list[int] = []
        for i, entry in enumerate(self.entries):
            starts.append(len(texts))
            for phrasing in entry.phrasings:
                texts.append(self.normalize(phrasing))
                owner.append(i)
        self.phrasings: tuple[str, ...] = tuple(texts)
        self.owner = np.asarray(owner, dtype=np.int64)
        self.starts = np.asarray(starts, dtype=np.int64)
        words = [self._tok.words(t) for t in texts]
        self.ph_words: tuple[frozenset[str], ...] = tuple(frozenset(w) for w in words)
        chars = [char_grams(t) for t in texts]
        self.word_index = BM25Index(words)
        self.char_index = BM25Index(chars)
        self.pinyin_index = BM25Index([pinyin_grams(t) for t in texts])
        self.entry_words: list[frozenset[str]] = []
        self.entry_qtypes: list[frozenset[str]] = []
        self.keyword_words: list[list[str]] = []
        entry_word_docs: list[list[str]] = []
        entry_char_docs: list[list[str]] = []
        for i, entry in enumerate(self.entries):
            lo, hi = self._span(i)
            keywords = [w for k in entry.keywords for w in self._tok.words(self.normalize(k))]
            self.keyword_words.append(keywords)
            self.entry_words.append(frozenset().union(*self.ph_words[lo:hi], keywords))
            self.entry_qtypes.append(_entry_qtypes(self.phrasings[lo:hi]))
            entry_word_docs.append([w for ws in words[lo:hi] for w in ws] + keywords)
            entry_char_docs.append([c for cs in chars[lo:hi] for c in cs])
        self.entry_word_index = BM25Index(entry_word_docs)
        self.entry_char_index = BM25Index(entry_char_docs)

    _STATE: Final = (
        "phrasings", "owner", "starts", "ph_words", "word_index", "char_index", "pinyin_index",
        "entry_words", "entry_qtypes", "keyword_words", "entry_word_index", "entry_char_index",
    )  # fmt: skip

    def _index_path(self, kb: KnowledgeBase) -> Path | None:
        digest = hashlib.sha256(kb.fingerprint.encode())
        for entry in self.entries:
            digest.update("\x1f".join((entry.id, *entry.phrasings, *entry.keywords)).encode())
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

    def with_kb(self, kb: KnowledgeBase) -> Matcher:
        """A new matcher for a reloaded KB, same settings and combiner."""
        return Matcher(kb, self.settings, self.combiner)

    def normalize(self, text: str) -> str:
        """Normalise with this KB's synonym map (see `knowledge.normalize.normalize`)."""
        from knowledge.normalize import normalize

        return normalize(text, self._replace)

    def match(self, text: str) -> MatchResult:
        """Score the message against the KB and decide what to do with it."""
        feats = self.features(text)
        return self.decide(feats, self.scores(feats))

    def scores(self, feats: QueryFeatures) -> FloatArray:
        """Calibrated probability of each candidate of `feats`."""
        if not feats.entries:
            return np.zeros(0, np.float32)
        return self.combiner(feats.rows)

    def decide(
        self, feats: QueryFeatures, scores: FloatArray, settings: MatchSettings | None = None
    ) -> MatchResult:
        """Apply the decision rule to scored candidates."""
        s = settings or self.settings
        if not feats.content:
            return MatchResult("clarify", feats.normalized, ())
        order = np.argsort(-scores, kind="stable")[: max(s.max_suggestions, 2)]
        cands = tuple(
            Candidate(self.entries[feats.entries[int(j)]], round(float(scores[j]), 4))
            for j in order
        )
        if not cands:
            return MatchResult("escalate", feats.normalized, ())
        best = cands[0].score
        second = cands[1].score if len(cands) > 1 else 0.0
        if best >= s.tau_high and best - second >= s.delta:
            decision: Decision = "answer"
        elif best >= s.tau_low:
            decision = "suggest"
        else:
            decision = "escalate"
        shown = cands[: max(s.max_suggestions, 1)]
        return MatchResult(decision, feats.normalized, shown)

    # -- features -------------------------------------------------------------------------

    def _span(self, entry: int) -> tuple[int, int]:
        lo = int(self.starts[entry])
        hi = int(self.starts[entry + 1]) if entry + 1 < len(self.starts) else len(self.phrasings)
        return lo, hi

    def query(self, normalized: str, vec: FloatArray | None = None) -> _Query:
        """Tokenise a normalised message (the embedding is added by `features` when needed)."""
        return _Query(
            text=normalized,
            words=self._tok.words(normalized),
            chars=char_grams(normalized),
            pinyin=pinyin_grams(normalized),
            qtypes=question_types(normalized),
            vec=vec,
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
    ) -> QueryFeatures:
        """Candidates and feature rows for a message.

        `exclude_phrasing` / `exclude_entry` hide one phrasing / one whole entry from the index:
        leave-one-out evaluation and combiner training use them.
        """
        norm = self.normalize(text) if normalized is None else normalized
        if not norm or not self.phrasings:
            return QueryFeatures(norm, bool(norm) and self._content_of(norm))
        q = self.query(norm, vec)
        if not self.has_content(q):
            return QueryFeatures(norm, False)
        if q.vec is None and self._embedder is not None:
            q = replace(q, vec=self._embedder.query(norm[-EMBED_CHARS:]))
        mask: list[int] = []
        if exclude_phrasing is not None:
            mask.append(exclude_phrasing)
        if exclude_entry is not None:
            mask.extend(range(*self._span(exclude_entry)))
        pools = self._pools(q, mask, exclude_phrasing, exclude_entry)
        cand: list[int] = []
        for name in ("word", "char", "pinyin", "eword", "echar", "e5", "e5c"):
            pool = pools.get(name)
            if pool is None:
                continue
            k = min(RECALL_PER_SIGNAL, pool.size)
            top = np.argpartition(-pool, k - 1)[:k] if k < pool.size else np.arange(pool.size)
            cand.extend(int(i) for i in top if pool[i] > 0)
        cand = [c for c in dict.fromkeys(cand) if c != exclude_entry]
        if not cand:
            return QueryFeatures(norm, True)
        rows = self._rows(q, cand, pools, set(mask))
        return QueryFeatures(norm, True, tuple(cand), rows)

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
        for name, index, terms in (
            ("eword", self.entry_word_index, q.words),
            ("echar", self.entry_char_index, q.chars),
        ):
            pools[name] = self._normalised(index, terms, [])
        if self._emb is not None and self._centroids is not None and q.vec is not None:
            cos = (self._emb @ q.vec).astype(np.float32)
            if mask:
                cos[mask] = -1.0
            pools["e5"] = pool_max(cos, self.starts)
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
            words = [w for t in rest for w in self._tok.words(t)] + self.keyword_words[owner]
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
                    centre = self._emb[keep].sum(axis=0)
                    centre /= max(float(np.linalg.norm(centre)), 1e-9)
                    pools["e5c"][owner] = float(centre @ q.vec)
                else:
                    pools["e5c"][owner] = -1.0
        return pools

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
        # Words the KB has never seen (hidden phrasings do not count as seen): novelty that
        # tells a near-miss question (宅基地上种什么菜) from a paraphrase.
        novel = [
            w
            for w in q_words
            if w not in GENERIC_WORDS
            and self.word_index.df(w) <= sum(w in self.ph_words[p] for p in masked)
        ]
        unknown = sum(q_idf[w] for w in novel) / q_mass
        n = len(cand)
        cols = {name: np.zeros(n, np.float32) for name in FEATURES}
        for j, ei in enumerate(cand):
            lo, hi = self._span(ei)
            phs = [p for p in range(lo, hi) if p not in masked]
            if masked and lo <= min(masked) < hi:
                vocab: frozenset[str] = frozenset().union(
                    *(self.ph_words[p] for p in phs), self.keyword_words[ei]
                )
            else:
                vocab = self.entry_words[ei]
            cols["cover_q"][j] = sum(v for w, v in q_idf.items() if w in vocab) / q_mass
            best_p = 0.0
            best_ratio = 0.0
            best_partial = 0.0
            for p in phs:
                pw = self.ph_words[p]
                if pw:
                    mass = sum(idf(w) for w in pw)
                    best_p = max(best_p, sum(idf(w) for w in pw & q_set) / mass)
                text = self.phrasings[p]
                best_ratio = max(best_ratio, fuzz.ratio(q.text, text))
                best_partial = max(best_partial, fuzz.partial_ratio(q.text, text))
            cols["cover_p"][j] = best_p
            cols["ratio"][j] = best_ratio / 100.0
            cols["partial"][j] = best_partial / 100.0
            types = self.entry_qtypes[ei]
            if q.qtypes:
                cols["qtype_match"][j] = float(bool(q.qtypes & types))
                cols["qtype_clash"][j] = float(not (q.qtypes & types) and bool(types))
        idx = np.asarray(cand, dtype=np.int64)
        for name, pool in pools.items():
            cols[name] = pool[idx]
            cols[name + "_gap"] = _gap(cols[name])
        cols["cover_gap"] = _gap(cols["cover_q"])
        cols["ratio_gap"] = _gap(cols["ratio"])
        cols["log_len"][:] = math.log1p(len(q.text))
        cols["unknown_frac"][:] = unknown
        cols["unknown_n"][:] = len(novel)
        return np.stack([cols[name] for name in FEATURES], axis=1).astype(np.float32)


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
