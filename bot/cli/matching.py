"""`lawbot ask`, `lawbot eval`, `lawbot bench`: the matcher from the command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from knowledge.loader import KbError, default_kb_dir, load_kb
from knowledge.matcher import Matcher, MatchResult, MatchSettings, result_json
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
    """问一个问题 / Match one question (or one per stdin line) against the FAQ.

    With `--json`, each line also carries `urgent`: the key of the risk-triage category the
    question falls in (the KB's `triage.yaml`, then in semantic mode the nearest labelled
    examples, as the consultation service checks it), or null.
    """
    from knowledge.triage import detect_risk
    from knowledge.triage_semantic import SemanticTriage

    knowledge = _load(kb)
    matcher = Matcher(knowledge, _settings(semantic, cache_dir))
    examples = SemanticTriage.load() if matcher.semantic else None
    questions: Iterator[str] = iter([question]) if question is not None else _stdin_lines()
    for q in questions:
        result = matcher.match(q)
        if as_json:
            obj = result_json(q, result)
            risk = detect_risk(q, knowledge.triage)
            key = risk.key if risk is not None else None
            vector = matcher.embed_message(q) if key is None and examples is not None else None
            obj["urgent"] = examples.category(vector) if vector is not None and examples else key
            sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        else:
            sys.stdout.write(_text(q, result))


def eval_(
    kb: KbOption = None,
    set_name: Annotated[
        str,
        typer.Option(
            "--set",
            help="评测集 / realdev-test | realdev-tune | dev | cross-kb (default realdev-test).",
        ),
    ] = "realdev-test",
    semantic: SemanticOption = None,
    cache_dir: CacheOption = None,
    baselines: Annotated[bool, typer.Option("--baselines/--no-baselines")] = True,
    rounds: Annotated[int, typer.Option("--rounds", help="bootstrap rounds")] = 1000,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON 输出 / the report as JSON.")
    ] = False,
    ask_outputs: Annotated[
        list[str] | None,
        typer.Option(
            "--ask",
            help="另一版本 `lawbot ask --json` 的输出 / NAME=FILE, scored beside (set order).",
        ),
    ] = None,
    train: Annotated[
        Path | None,
        typer.Option(
            "--train",
            help="先在调参集上重新拟合并写入此文件 / refit on the tune split, write weights here.",
        ),
    ] = None,
) -> None:
    """评测 / Scorecard of the matcher beside the baselines B1-B3, with 95% bootstrap intervals."""
    from knowledge.evalsets import SETS, eval_command
    from knowledge.realqa import RealQaMissing

    if set_name not in SETS:
        typer.echo(f"错误 error: --set must be one of {', '.join(SETS)}", err=True)
        raise typer.Exit(2)
    knowledge = _load(kb)
    settings = _settings(semantic, cache_dir)
    pairs = [item.partition("=") for item in ask_outputs or []]
    if any(not name or not path for name, _, path in pairs):
        typer.echo("错误 error: --ask takes NAME=FILE", err=True)
        raise typer.Exit(2)
    try:
        if train is not None:
            from knowledge.fitting import refit

            modes = ("semantic", "lexical") if settings.semantic else ("lexical",)
            refit(knowledge, modes=modes, cache_dir=settings.cache_dir, out=train,
                  progress=typer.echo)  # fmt: skip
            typer.echo(f"wrote {train} (reload to use it)")
        typer.echo(
            eval_command(
                set_name,
                knowledge=knowledge,
                settings=settings,
                rounds=rounds,
                baselines=baselines,
                as_json=as_json,
                ask_outputs={name: Path(path) for name, _, path in pairs},
            )
        )
    except RealQaMissing as exc:
        typer.echo(f"错误 error: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"错误 error: {exc.filename or ''} {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None


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
