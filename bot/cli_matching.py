"""`lawbot ask`, `lawbot eval`, `lawbot bench`: the matcher from the command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from knowledge.loader import KbError, default_kb_dir, load_kb
from knowledge.matcher import Matcher, MatchResult, MatchSettings
from knowledge.models import KnowledgeBase
from knowledge.templates import fill_fields

__all__ = ["ask", "bench", "eval_", "register", "result_json"]

KbOption = Annotated[
    Path | None, typer.Option("--kb", help="知识库目录 / KB directory (default: shipped KB).")
]
SemanticOption = Annotated[
    bool | None,
    typer.Option(
        "--semantic/--no-semantic",
        help="语义信号 / e5-small semantic signal (default: [matching] semantic).",
    ),
]
_DEFAULTS = MatchSettings()
CacheOption = Annotated[
    Path | None, typer.Option("--cache-dir", help="缓存目录 / embedding and jieba cache.")
]


_base_settings: Callable[[], MatchSettings] = MatchSettings
_fields: Callable[[], Mapping[str, str]] = dict


def register(
    app: typer.Typer,
    settings: Callable[[], MatchSettings] | None = None,
    fields: Callable[[], Mapping[str, str]] | None = None,
) -> None:
    """Add the matcher commands; `settings` and `fields` supply the configured values."""
    global _base_settings, _fields
    if settings is not None:
        _base_settings = settings
    if fields is not None:
        _fields = fields
    app.command("ask")(ask)
    app.command("eval")(eval_)
    app.command("bench")(bench)


def _settings(semantic: bool | None, cache_dir: Path | None) -> MatchSettings:
    base = _base_settings()
    return replace(
        base,
        semantic=base.semantic if semantic is None else semantic,
        cache_dir=cache_dir or base.cache_dir,
    )


def _load(kb_dir: Path | None) -> KnowledgeBase:
    try:
        return fill_fields(load_kb(kb_dir or default_kb_dir()), _fields())
    except KbError as exc:
        typer.echo(f"错误 error: {exc}", err=True)
        raise typer.Exit(2) from None


def result_json(question: str, result: MatchResult) -> dict[str, Any]:
    """The `lawbot ask --json` object for one question."""
    entry = result.entry
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
            for c in result.candidates
        ]
        if result.decision == "suggest"
        else [],
    }


def _text(question: str, result: MatchResult) -> str:
    head = f"[{result.decision}] {result.score:.2f}  {question}"
    entry = result.entry
    if entry is not None:
        basis = "；".join(c.display() for c in entry.basis)
        return f"{head}\n{entry.id} ({entry.topic})\n{entry.answer}\n依据: {basis}\n"
    lines = [head]
    lines.extend(f"  {c.score:.2f}  {c.entry.id}  {c.entry.question}" for c in result.candidates)
    return "\n".join(lines) + "\n"


def _stdin_lines() -> Iterator[str]:
    for line in sys.stdin:
        yield line.rstrip("\n")


def ask(
    question: Annotated[
        str | None, typer.Argument(help="问题 / question (else stdin lines).")
    ] = None,
    kb: KbOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON 输出 / one JSON per line.")
    ] = False,
    semantic: SemanticOption = None,
    cache_dir: CacheOption = None,
) -> None:
    """问一个问题 / Match one question (or one per stdin line) against the FAQ."""
    matcher = Matcher(_load(kb), _settings(semantic, cache_dir))
    questions: Iterator[str] = iter([question]) if question is not None else _stdin_lines()
    for q in questions:
        result = matcher.match(q)
        if as_json:
            sys.stdout.write(json.dumps(result_json(q, result), ensure_ascii=False) + "\n")
            sys.stdout.flush()
        else:
            sys.stdout.write(_text(q, result))


def eval_(
    kb: KbOption = None,
    dev: Annotated[
        Path | None,
        typer.Option("--dev", help="评测集目录 / eval dir with dev/*.yaml, out_of_scope.yaml."),
    ] = None,
    semantic: SemanticOption = None,
    cache_dir: CacheOption = None,
    baselines: Annotated[bool, typer.Option("--baselines/--no-baselines")] = True,
    rounds: Annotated[int, typer.Option("--rounds", help="bootstrap rounds")] = 1000,
    train: Annotated[
        Path | None,
        typer.Option("--train", help="先训练组合器并写入此文件 / train combiners, write weights."),
    ] = None,
) -> None:
    """评测 / Evaluate the matcher and the baselines B1-B3 (dev set, else leave-one-out)."""
    from knowledge.evaluation import evaluate, train_combiner, weights_module

    knowledge = _load(kb)
    settings = _settings(semantic, cache_dir)
    matcher = Matcher(knowledge, settings)
    if train is not None:
        combiners = {"semantic" if semantic else "lexical": train_combiner(matcher)}
        if semantic:
            lexical = Matcher(knowledge, replace(settings, semantic=False))
            combiners["lexical"] = train_combiner(lexical)
        note = f"Trained leave-one-phrasing-out on KB {knowledge.fingerprint}."
        train.write_text(weights_module(combiners, note), encoding="utf-8")
        typer.echo(f"wrote {train}")
        matcher = Matcher(knowledge, settings, combiners["semantic" if semantic else "lexical"])
    eval_dir = dev if dev is not None else (kb or default_kb_dir()) / "eval"
    report = evaluate(matcher, eval_dir, with_baselines=baselines, rounds=rounds)
    typer.echo(f"source: {report.source}  in-scope n={report.n_in}  out-of-scope n={report.n_out}")
    keys = ("top1", "mrr5", "coverage", "precision", "right_or_suggested", "oos_false_answer")
    typer.echo(f"{'system':18}" + "".join(f"{k:>22}" for k in keys) + "  thresholds")
    for name, m in report.systems.items():
        cells = "".join(
            f"{m.values[k]:>8.3f} [{m.intervals[k][0]:.3f},{m.intervals[k][1]:.3f}]" for k in keys
        )
        th = " ".join(f"{k}={v:.3f}" for k, v in m.thresholds.items())
        typer.echo(f"{name:18}{cells}  {th}")


def bench(
    kb: KbOption = None,
    semantic: SemanticOption = None,
    cache_dir: CacheOption = None,
    entries: Annotated[int, typer.Option("--entries", help="scaled KB size")] = 20000,
    queries: Annotated[int, typer.Option("--queries", help="timed matches per KB")] = 500,
) -> None:
    """基准 / Latency p50/p99 (shipped and scaled KB), cold start, peak RSS."""
    from knowledge.benchmark import run_benchmark

    for line in run_benchmark(
        kb or default_kb_dir(), _settings(semantic, cache_dir), entries, queries
    ).lines():
        typer.echo(line)
