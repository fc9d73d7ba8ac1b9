"""Benchmarks of the matcher: latency, cold start, peak memory. Functions return data.

* Latency: p50/p99 of one `Matcher.match` over perturbed KB phrasings (a character dropped or a
  homophone-like neighbour inserted, plus some out-of-scope and long messages), on the shipped KB
  and on a KB scaled to N entries by cloning entries with varied phrasings.
* For the scaled KB with the semantic signal on, phrasing vectors are the source phrasing's vector
  plus noise (re-normalised), written to the embedding cache: embedding 150k phrasings would take
  ~20 min and the latency of one match depends only on the matrix shape. Query embedding is real.
* Cold start: a fresh `python` process that loads the KB, builds the matcher and answers one
  question (warm caches), timed from process start to the answer.
* Peak RSS: `ru_maxrss` of that cold-start process, and of this process after the scaled KB.
"""

from __future__ import annotations

import random
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

import numpy as np

from knowledge.loader import load_kb
from knowledge.matcher import Matcher, MatchSettings
from knowledge.models import Entry, KnowledgeBase, Topic
from knowledge.semantic import MODEL_ID, _write

__all__ = ["BenchResult", "probe_queries", "run_benchmark", "scaled_kb", "time_matches"]

_PAD = "村里镇上去年今年老人孩子家里田地山林房子钱款合同证明单位部门工地厂里亲戚朋友邻居兄弟"


@dataclass
class BenchResult:
    """Every figure `lawbot bench` prints."""

    semantic: bool
    entries: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    init_s: float = 0.0
    scaled_entries: int = 0
    scaled_p50_ms: float = 0.0
    scaled_p99_ms: float = 0.0
    scaled_init_s: float = 0.0
    cold_start_s: float = 0.0
    cold_rss_mb: float = 0.0
    scaled_rss_mb: float = 0.0
    peak_rss_mb: float = 0.0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable report."""
        mode = "semantic" if self.semantic else "lexical-only"
        return [
            f"mode: {mode}",
            f"shipped KB: {self.entries} entries  init {self.init_s:.2f}s  "
            f"p50 {self.p50_ms:.2f} ms  p99 {self.p99_ms:.2f} ms",
            f"scaled KB: {self.scaled_entries} entries  init {self.scaled_init_s:.2f}s  "
            f"p50 {self.scaled_p50_ms:.2f} ms  p99 {self.scaled_p99_ms:.2f} ms",
            f"cold start (process start → first answer, warm cache): {self.cold_start_s:.2f}s  "
            f"RSS {self.cold_rss_mb:.0f} MB",
            f"scaled KB served by a fresh process (warm caches, {self.scaled_entries} entries, "
            f"after the probe queries): peak RSS {self.scaled_rss_mb:.0f} MB",
            f"peak RSS of this process (incl. building the scaled KB): {self.peak_rss_mb:.0f} MB",
            *self.notes,
        ]


_STORY: Final = (
    "我家在村里住了几十年，", "去年家里出了点事，", "一直没人管，", "找过村干部也说不清楚，",
    "对方说他们有道理，", "家里老人身体也不好，", "现在心里很着急，", "前前后后拖了大半年，",
    "我们也不懂法，", "听别人讲可以找律师，",
)  # fmt: skip


def probe_queries(kb: KnowledgeBase, n: int, seed: int = 0) -> list[str]:
    """A realistic mix, reproducibly: 60% short perturbed phrasings, 20% with a clause of
    context (~40 characters), 10% long stories (≥ 80 characters, the question last) and 10% odd
    messages (empty, vague, out of scope, very long)."""
    rng = random.Random(seed)
    phrasings = [p for e in kb.entries for p in e.phrasings] or ["宅基地被占了怎么办"]
    odd = ["今天天气怎么样", "怎么办", "你好", "13812345678", "离婚" * 60, "😀", "abc 123 宅基地"]
    out: list[str] = []
    for i in range(n):
        if i % 10 == 9:
            out.append(odd[(i // 10) % len(odd)])
            continue
        text = rng.choice(phrasings)
        if len(text) > 3:
            k = rng.randrange(len(text))
            text = text[:k] + text[k + 1 :] if i % 2 else text[:k] + rng.choice(_PAD) + text[k:]
        if i % 10 in (3, 6):
            text = rng.choice(_STORY) + text
        elif i % 10 == 8:
            story = "".join(rng.sample(_STORY, 5))
            text = story + "想问一下" + text
        out.append(text)
    return out


def time_matches(matcher: Matcher, texts: list[str]) -> tuple[float, float]:
    """(p50, p99) in milliseconds of one `match` per text, after a short warm-up."""
    for text in texts[:10]:
        matcher.match(text)
    times: list[float] = []
    for text in texts:
        start = time.perf_counter()
        matcher.match(text)
        times.append((time.perf_counter() - start) * 1000)
    arr = np.asarray(times)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def scaled_kb(kb: KnowledgeBase, n_entries: int, seed: int = 0) -> KnowledgeBase:
    """A KB of `n_entries` entries: the real ones, then clones with varied phrasings."""
    rng = random.Random(seed)
    base = kb.entries
    if not base:
        return kb
    entries: list[Entry] = list(base)
    i = 0
    while len(entries) < n_entries:
        src = base[i % len(base)]
        i += 1
        place = "".join(rng.choice(_PAD) for _ in range(2)) + rng.choice("村镇乡组")
        topic_word = "".join(rng.choice(_PAD) for _ in range(2))

        def vary(text: str, place: str = place, topic_word: str = topic_word) -> str:
            k = rng.randrange(len(text) + 1)
            return f"{place}{text[:k]}{topic_word}{text[k:]}"

        entries.append(
            replace(
                src,
                id=f"{src.id}-x{i}",
                question=vary(src.question),
                variants=tuple(vary(v) for v in src.variants),
            )
        )
    topic = Topic(key="scaled", name="scaled", entries=tuple(entries))
    fingerprint = f"scaled{n_entries}-{kb.fingerprint}-{seed}"
    return KnowledgeBase(topics=(topic,), lexicon=kb.lexicon, fingerprint=fingerprint)


def _seed_embeddings(kb: KnowledgeBase, lexical: Matcher, shipped: Matcher, cache: Path) -> None:
    """Write synthetic phrasing vectors for a scaled KB into the embedding cache."""
    assert shipped._emb is not None
    rng = np.random.default_rng(0)
    n_real = len(shipped.phrasings)
    src = np.resize(np.arange(n_real), len(lexical.phrasings))
    src[:n_real] = np.arange(n_real)
    base = shipped._emb[src].astype(np.float32)
    noise = rng.normal(0, 0.02, base.shape).astype(np.float32)
    noise[:n_real] = 0
    vecs = base + noise
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True) + 1e-9
    _write(cache / f"e5-{MODEL_ID}-{kb.fingerprint}.npz", lexical.phrasings, vecs)


def cold_start(kb_dir: Path, settings: MatchSettings, cache: Path) -> tuple[float, float]:
    """(seconds from process start to first answer, peak RSS MB) of a fresh process."""
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from knowledge.loader import load_kb\n"
        "from knowledge.matcher import Matcher, MatchSettings\n"
        f"s = MatchSettings(semantic={settings.semantic!r}, cache_dir=Path({str(cache)!r}))\n"
        f"m = Matcher(load_kb(Path({str(kb_dir)!r})), s)\n"
        "m.match('邻居占了我家宅基地怎么办')\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    cwd = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=cwd)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=cwd
    )
    elapsed = time.perf_counter() - start
    return elapsed, int(done.stdout.strip().splitlines()[-1]) / 1024


def scaled_rss(kb_dir: Path, settings: MatchSettings, n_entries: int, n_queries: int) -> float:
    """Peak RSS (MB) of a fresh process serving the scaled KB from warm caches (a restart)."""
    code = (
        "import resource\n"
        "from pathlib import Path\n"
        "from knowledge.benchmark import probe_queries, scaled_kb\n"
        "from knowledge.loader import load_kb\n"
        "from knowledge.matcher import Matcher, MatchSettings\n"
        f"s = MatchSettings(semantic={settings.semantic!r}, cache_dir=Path({str(settings.cache_dir)!r}))\n"
        f"kb = load_kb(Path({str(kb_dir)!r}))\n"
        f"m = Matcher(scaled_kb(kb, {n_entries}), s)\n"
        f"for q in probe_queries(kb, {n_queries}): m.match(q)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    cwd = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=cwd
    )
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def run_benchmark(
    kb_dir: Path, settings: MatchSettings, n_entries: int = 20000, n_queries: int = 500
) -> BenchResult:
    """All benchmark figures for one mode (semantic on or off)."""
    from knowledge.tokenize import default_cache_dir

    cache = settings.cache_dir or default_cache_dir()
    settings = replace(settings, cache_dir=cache)
    result = BenchResult(settings.semantic)
    kb = load_kb(kb_dir)
    start = time.perf_counter()
    matcher = Matcher(kb, settings)
    result.init_s = time.perf_counter() - start
    result.entries = len(kb.entries)
    probes = probe_queries(kb, n_queries)
    result.p50_ms, result.p99_ms = time_matches(matcher, probes)
    result.cold_start_s, result.cold_rss_mb = cold_start(kb_dir, settings, cache)
    if n_entries > 0:
        big = scaled_kb(kb, n_entries)
        if settings.semantic:
            lexical = Matcher(big, replace(settings, semantic=False))
            _seed_embeddings(big, lexical, matcher, cache)
            del lexical
            result.notes.append("scaled KB phrasing vectors: source vector + noise (see docs)")
        start = time.perf_counter()
        scaled = Matcher(big, settings)
        result.scaled_init_s = time.perf_counter() - start
        result.scaled_entries = len(big.entries)
        result.scaled_p50_ms, result.scaled_p99_ms = time_matches(scaled, probes)
        del scaled
        result.scaled_rss_mb = scaled_rss(kb_dir, settings, n_entries, min(n_queries, 200))
    result.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result
