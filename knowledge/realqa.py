"""The labelled real-question sets (realdev tune / test): ids, labels and, at run time, the text.

The questions themselves are never part of the project: they are read from
`../shared/realqa_dev/questions.jsonl` (relative to the repository; `LAWBOT_REALQA` overrides the
path) when an evaluation runs. What the project keeps is keyed by id:

* `knowledge/eval/realqa/split.json`: the fixed random sample, `{"tune": [ids], "test": [ids]}`;
* `knowledge/eval/realqa/labels.jsonl`: one reconciled label a line,
  `{"id", "label": "entry" | "not_covered" | "out_of_scope", "entries": [ids, best first]}`.

Discipline: thresholds and fitted weights are chosen on `tune` only; `test` is scored for reports.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

__all__ = [
    "LABELS",
    "Label",
    "Labelled",
    "RealQaMissing",
    "default_labels_path",
    "default_questions_path",
    "default_split_path",
    "load_labels",
    "load_questions",
    "load_split",
    "real_set",
]

Label = Literal["entry", "not_covered", "out_of_scope"]
LABELS: Final[tuple[Label, ...]] = ("entry", "not_covered", "out_of_scope")
_REPO: Final = Path(__file__).resolve().parent.parent
_REALQA_DIR: Final = Path(__file__).resolve().parent / "eval" / "realqa"


class RealQaMissing(Exception):
    """A file the real-question sets need is not there (questions, split or labels)."""


@dataclass(frozen=True, slots=True)
class Labelled:
    """One labelled message: its text, its label and (label `entry`) the gold entry ids."""

    id: str
    text: str
    label: Label
    gold: tuple[str, ...] = ()

    @property
    def in_scope(self) -> bool:
        """True when some KB entry answers it."""
        return self.label == "entry"


def default_questions_path() -> Path:
    """`$LAWBOT_REALQA`, else `../shared/realqa_dev/questions.jsonl` next to the repository."""
    env = os.environ.get("LAWBOT_REALQA")
    return Path(env) if env else _REPO.parent / "shared" / "realqa_dev" / "questions.jsonl"


def default_split_path() -> Path:
    """The project's fixed tune/test split of the labelled sample."""
    return _REALQA_DIR / "split.json"


def default_labels_path() -> Path:
    """The reconciled labels of the sample."""
    return _REALQA_DIR / "labels.jsonl"


def load_questions(path: Path | None = None, ids: Collection[str] | None = None) -> dict[str, str]:
    """Read question texts by id (only `ids` when given); raise `RealQaMissing` if absent."""
    path = path or default_questions_path()
    if not path.is_file():
        raise RealQaMissing(f"real questions not found at {path} (set LAWBOT_REALQA)")
    wanted = set(ids) if ids is not None else None
    out: dict[str, str] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            item = json.loads(line)
            qid, text = item.get("id"), item.get("question")
            if (
                isinstance(qid, str)
                and isinstance(text, str)
                and (wanted is None or qid in wanted)
            ):
                out[qid] = text
    return out


def load_split(path: Path | None = None) -> dict[str, tuple[str, ...]]:
    """Read the split: `{"tune": ids, "test": ids}`."""
    path = path or default_split_path()
    if not path.is_file():
        raise RealQaMissing(f"split not found at {path}")
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: tuple(str(i) for i in data.get(k, ())) for k in ("tune", "test")}


def load_labels(path: Path | None = None) -> dict[str, tuple[Label, tuple[str, ...]]]:
    """Read reconciled labels: id → (label, gold entry ids best first)."""
    path = path or default_labels_path()
    if not path.is_file():
        raise RealQaMissing(f"labels not found at {path} (the lead writes them)")
    out: dict[str, tuple[Label, tuple[str, ...]]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        item = json.loads(line)
        label = item.get("label")
        qid = item.get("id")
        if not isinstance(qid, str) or label not in LABELS:
            raise ValueError(f"{path}:{number}: needs id and label in {LABELS}")
        entries = tuple(str(e) for e in item.get("entries") or ()) if label == "entry" else ()
        if label == "entry" and not entries:
            raise ValueError(f"{path}:{number}: label entry needs entries")
        out[qid] = (label, entries)
    return out


def real_set(
    part: Literal["tune", "test"],
    known_entries: Iterable[str] | None = None,
    *,
    questions: Path | None = None,
    split: Path | None = None,
    labels: Path | None = None,
) -> list[Labelled]:
    """The labelled messages of one split part, in split order.

    With `known_entries`, gold ids the KB no longer has are dropped; a message left with no gold
    entry counts as `not_covered` (the KB lost or renamed what answered it).
    """
    ids = load_split(split)[part]
    marks = load_labels(labels)
    texts = load_questions(questions, ids)
    known = set(known_entries) if known_entries is not None else None
    out: list[Labelled] = []
    for qid in ids:
        if qid not in marks or qid not in texts:
            continue
        label, gold = marks[qid]
        if known is not None and label == "entry":
            gold = tuple(g for g in gold if g in known)
            if not gold:
                label = "not_covered"
        out.append(Labelled(qid, texts[qid], label, gold))
    return out
