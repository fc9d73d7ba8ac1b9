"""Sparse BM25 over token lists (numpy inverted index), and per-entry max pooling.

Documents are the phrasings of the KB, stored entry by entry so that `pool_max` can reduce
phrasing scores to entry scores with one `np.maximum.reduceat`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["BM25Index", "FloatArray", "pool_max"]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


class BM25Index:
    """Okapi BM25 with precomputed per-posting weights; `scores` is a few numpy adds per term."""

    __slots__ = ("_avgdl", "_b", "_idf", "_ids", "_k1", "_spans", "_weights", "n_docs")

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.n_docs = len(docs)
        self._k1, self._b = k1, b
        lengths = [len(d) for d in docs]
        self._avgdl = (sum(lengths) / len(lengths)) if lengths and sum(lengths) else 1.0
        ids: dict[str, list[int]] = {}
        tfs: dict[str, list[float]] = {}
        for i, doc in enumerate(docs):
            norm = k1 * (1 - b + b * len(doc) / self._avgdl)
            for term, tf in Counter(doc).items():
                ids.setdefault(term, []).append(i)
                tfs.setdefault(term, []).append(tf * (k1 + 1) / (tf + norm))
        n = max(self.n_docs, 1)
        self._idf: dict[str, float] = {
            t: math.log(1 + (n - len(v) + 0.5) / (len(v) + 0.5)) for t, v in ids.items()
        }
        # Postings in one flat array (CSR): term → (start, end); weights include the IDF.
        self._spans: dict[str, tuple[int, int]] = {}
        flat_ids: list[int] = []
        flat_w: list[float] = []
        for term, docs_of_term in ids.items():
            start = len(flat_ids)
            flat_ids.extend(docs_of_term)
            idf = self._idf[term]
            flat_w.extend(w * idf for w in tfs[term])
            self._spans[term] = (start, len(flat_ids))
        self._ids: IntArray = np.asarray(flat_ids, dtype=np.int64)
        self._weights: FloatArray = np.asarray(flat_w, dtype=np.float32)

    def idf(self, term: str) -> float:
        """IDF of a term; unseen terms get the IDF of a term seen in one document."""
        got = self._idf.get(term)
        if got is not None:
            return got
        n = max(self.n_docs, 1)
        return math.log(1 + (n - 0.5) / 1.5)

    def known(self, term: str) -> bool:
        """Return True if the term occurs in some document."""
        return term in self._spans

    def df(self, term: str) -> int:
        """Number of documents holding the term."""
        span = self._spans.get(term)
        return 0 if span is None else span[1] - span[0]

    def scores(self, terms: Sequence[str]) -> FloatArray:
        """BM25 score of every document for the distinct query terms."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        for term in dict.fromkeys(terms):
            span = self._spans.get(term)
            if span is not None:
                lo, hi = span
                out[self._ids[lo:hi]] += self._weights[lo:hi]
        return out

    def score_doc(self, terms: Sequence[str], doc: Sequence[str]) -> float:
        """BM25 score of one document that is not (or no longer) in the index, same statistics."""
        counts = Counter(doc)
        norm = self._k1 * (1 - self._b + self._b * len(doc) / self._avgdl)
        total = 0.0
        for term in dict.fromkeys(terms):
            tf = counts.get(term, 0)
            if tf:
                total += self.idf(term) * tf * (self._k1 + 1) / (tf + norm)
        return total

    def self_score(self, terms: Sequence[str]) -> float:
        """Score a document identical to the query would get (known terms): the normaliser."""
        distinct = list(dict.fromkeys(terms))
        if not distinct:
            return 0.0
        norm = self._k1 * (1 - self._b + self._b * len(terms) / self._avgdl)
        tf_w = (self._k1 + 1) / (1 + norm)
        return float(sum(self.idf(t) for t in distinct) * tf_w)


def pool_max(values: FloatArray, starts: IntArray) -> FloatArray:
    """Reduce per-phrasing values to per-entry maxima (phrasings stored entry by entry)."""
    if values.size == 0:
        return values
    return np.maximum.reduceat(values, starts).astype(np.float32, copy=False)
