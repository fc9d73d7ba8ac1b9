"""The shipped phrasing vectors cover the shipped KB, so a fresh install starts in seconds."""

from __future__ import annotations

from pathlib import Path

from bot.config import Config
from bot.wiring import load_knowledge, match_settings
from knowledge.matcher import Matcher
from knowledge.semantic import SEED_PATH, VectorStore


def test_the_seed_holds_the_vectors_of_almost_every_shipped_phrasing(
    config: Config, tmp_path: Path
) -> None:
    assert SEED_PATH.is_file()
    lexical = Matcher(load_knowledge(config), match_settings(config, semantic=False))
    texts = list(dict.fromkeys(lexical.phrasings))
    known = VectorStore(tmp_path).get(texts)  # an empty cache: only the seed answers
    # A KB edit since the seed was written re-embeds just the changed phrasings.
    assert len(known) >= 0.9 * len(texts), (len(known), len(texts))
    vector = next(iter(known.values()))
    assert vector.shape == (384,)
    assert abs(float((vector * vector).sum()) - 1.0) < 0.01
