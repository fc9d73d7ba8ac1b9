"""`python -m bot.ops.seed_vectors`: embed the shipped KB and write the shipped seed store.

Run after the KB changes so a fresh install starts the semantic signal in seconds; phrasings carry
the reference town's place fields (`[town]` of the config), as the running bot embeds them.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bot.config import load_config
from bot.wiring import load_knowledge
from knowledge import semantic
from knowledge.matcher import Matcher, MatchSettings
from knowledge.models import KnowledgeBase

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Embed every phrasing of the configured KB afresh and write `knowledge/vectors/`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=None, help="place fields from this config")
    parser.add_argument(
        "--triage", action="store_true", help="only the triage examples (vectors/triage-*.npz)"
    )
    args = parser.parse_args(argv)
    kb = load_knowledge(load_config(args.config))
    if args.triage:
        return _triage(kb)
    shipped = semantic.SEED_PATH
    with tempfile.TemporaryDirectory() as tmp:
        semantic.SEED_PATH = Path(tmp) / "no-seed.npz"  # embed everything, not the old seed
        try:
            Matcher(kb, MatchSettings(semantic=True, cache_dir=Path(tmp)))
        finally:
            semantic.SEED_PATH = shipped
        rows = semantic.write_seed(Path(tmp) / f"e5store-{semantic.MODEL_ID}.npz")
    print(f"wrote {shipped} ({rows} phrasings)")
    return 0


def _triage(kb: KnowledgeBase) -> int:
    import numpy as np

    from knowledge import triage_semantic

    embedder = semantic.Embedder()
    matrix, labels = triage_semantic.build_prototypes(kb, embedder.queries)
    path = triage_semantic.PROTOTYPES_PATH
    np.savez_compressed(path, matrix=matrix, labels=np.array(labels))
    print(f"wrote {path} ({len(labels)} examples, {sum(1 for x in labels if x)} urgent)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
