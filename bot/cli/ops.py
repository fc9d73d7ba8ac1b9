"""`lawbot purge`, `lawbot bench-http`, `lawbot bench-web` and `lawbot bench-load`: retention and
the benchmarks of the JSON API, the console pages and the load/fault run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console

from bot.config import Config
from storage.db import Database

__all__ = ["purge_texts", "register"]

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def purge_texts(db: Database, days: int, *, now: datetime | None = None) -> dict[str, int]:
    """Anonymise consultation texts older than `days` days; return what was touched and kept."""
    from sqlalchemy import func
    from sqlmodel import select

    from storage import repositories as repo
    from storage.clock import utcnow
    from storage.models import Consultation

    before = (now or utcnow()) - timedelta(days=days)
    with db.session() as session:
        counts = repo.purge_older_than(session=session, before=before)
        counts["kept_rows"] = int(session.exec(select(func.count(Consultation.id))).one())  # type: ignore[arg-type]
    return counts


ScratchDatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="数据库，默认临时 SQLite / scratch database URL (default: a fresh SQLite).",
    ),
]


def register(app: typer.Typer, get_config: Callable[[], Config]) -> None:
    """Add `purge` and `bench-load` to the `lawbot` command line."""

    @app.command("purge")
    def purge(
        older_than: Annotated[
            int | None,
            typer.Option(
                "--older-than",
                min=1,
                help="天数 / days (default: [privacy] retention_days of the config).",
            ),
        ] = None,
        database_url: Annotated[
            str | None, typer.Option("--database-url", help="数据库 / database URL.")
        ] = None,
    ) -> None:
        """清除过期咨询原文 / Anonymise consultation texts older than DAYS (counts are kept)."""
        from bot.wiring import open_database

        cfg = get_config()
        days = older_than or cfg.privacy.retention_days
        db = open_database(cfg, database_url)
        try:
            counts = purge_texts(db, days)
        finally:
            db.dispose()
        out.print(
            f"已匿名 anonymised {counts['consultations']} consultations and {counts['turns']} "
            f"advisor exchanges older than {days} days; {counts['kept_rows']} rows kept for "
            "statistics"
        )

    @app.command("bench-http")
    def bench_http_command(
        rate: Annotated[float, typer.Option("--rate", help="每秒消息 / paced msg/s.")] = 50.0,
        seconds: Annotated[
            float, typer.Option("--seconds", help="持续秒数 / paced seconds.")
        ] = 20.0,
        flat: Annotated[
            int, typer.Option("--flat", help="满负荷消息数 / flat-out messages.")
        ] = 1000,
        concurrency: Annotated[
            int, typer.Option("--concurrency", help="满负荷并发 / flat-out clients.")
        ] = 16,
        semantic: Annotated[
            bool | None,
            typer.Option(
                "--semantic/--lexical", help="语义匹配 / semantic matching (default: config)."
            ),
        ] = None,
        database_url: ScratchDatabaseOption = None,
    ) -> None:
        """HTTP 接口压测 / The JSON API through a real server: p50/p99 at a paced rate, then flat out."""
        from bot.ops.http_bench import bench_http

        result = bench_http(
            get_config(),
            database_url=database_url,
            rate=rate,
            seconds=seconds,
            flat_messages=flat,
            concurrency=concurrency,
            semantic=semantic,
        )
        print(result.summary())
        if result.paced.errors or result.flat.errors:
            raise typer.Exit(1)

    @app.command("bench-web")
    def bench_web_command(
        consultations: Annotated[
            int, typer.Option("--consultations", min=1, help="一年的咨询数 / consultations.")
        ] = 100_000,
        requests: Annotated[
            int, typer.Option("--requests", min=1, help="每页请求次数 / requests per page.")
        ] = 30,
        as_json: Annotated[bool, typer.Option("--json", help="输出 JSON / print JSON.")] = False,
        database_url: ScratchDatabaseOption = None,
    ) -> None:
        """控制台页面压测 / Console pages over a synthetic year: p50/p95/max per page (≤ 300 ms)."""
        from bot.ops.bench_web import bench_web

        try:
            result = bench_web(
                get_config(),
                database_url=database_url,
                consultations=consultations,
                requests=requests,
            )
        except ValueError as exc:
            err.print(f"[red]错误 error:[/red] {exc}")
            raise typer.Exit(2) from exc
        print(result.to_json() if as_json else result.table())
        if any(p.errors for p in result.pages):
            raise typer.Exit(1)

    @app.command("bench-load")
    def bench_load(
        villagers: Annotated[int, typer.Option("--villagers", help="村民人数 / villagers.")] = 500,
        messages: Annotated[
            int, typer.Option("--messages", "-n", help="消息数 / messages.")
        ] = 10_000,
        burst: Annotated[
            int, typer.Option("--burst", help="每批消息 / messages per burst.")
        ] = 500,
        rate: Annotated[
            float, typer.Option("--rate", help="每秒消息，0 为尽快 / messages/s, 0 = flat out.")
        ] = 0.0,
        faults: Annotated[
            float, typer.Option("--faults", help="随机故障率 / seeded fault rate per call.")
        ] = 0.0,
        kills: Annotated[
            int, typer.Option("--kills", help="SIGKILL 次数 / SIGKILL the bot N times.")
        ] = 0,
        seed: Annotated[int, typer.Option("--seed", help="随机种子 / seed.")] = 1,
        database_url: ScratchDatabaseOption = None,
    ) -> None:
        """负载与故障 / Villagers in bursts through the real bot (a subprocess) and the emulator.

        Checks afterwards that every message has exactly one consultation row and one reply;
        prints throughput and reply latency p50/p99.
        """
        from bot.ops.reliability_load import LoadPlan, run_load

        cfg = get_config()
        plan = LoadPlan(
            villagers=villagers,
            messages=messages,
            burst=burst,
            rate=rate,
            fault_rate=faults,
            kills=kills,
            seed=seed,
        )
        result = run_load(cfg, plan, database_url=database_url)  # None: a fresh SQLite file
        out.print(result.summary())
        if not result.ok:
            raise typer.Exit(1)
