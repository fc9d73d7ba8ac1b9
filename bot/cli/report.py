"""`lawbot report` and `lawbot demo-data`: staff statistics and a synthetic history to try them."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bot.config import Config

__all__ = ["register"]

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        err.print(
            f"[red]错误 error:[/red] {option} 需要 YYYY-MM-DD 格式 / expects YYYY-MM-DD: {value}"
        )
        raise typer.Exit(2) from None


def register(app: typer.Typer, get_config: Callable[[], Config]) -> None:
    """Add `report` and `demo-data` to the `lawbot` command line."""

    @app.command("report")
    def report(
        first: Annotated[
            str | None,
            typer.Option("--from", help="起始日期（含）/ first day, YYYY-MM-DD (town time)."),
        ] = None,
        last: Annotated[
            str | None,
            typer.Option("--to", help="结束日期（含）/ last day, YYYY-MM-DD (town time)."),
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="输出 JSON / machine-readable JSON.")
        ] = False,
        xlsx: Annotated[
            Path | None, typer.Option("--xlsx", help="写入 Excel 台账 / write an XLSX file.")
        ] = None,
        csv_dir: Annotated[
            Path | None, typer.Option("--csv", help="写入 CSV 目录 / write CSVs to a directory.")
        ] = None,
        charts: Annotated[
            Path | None, typer.Option("--charts", help="写入 PNG 图表 / write PNG charts.")
        ] = None,
        year: Annotated[
            int | None,
            typer.Option(
                "--year", min=2000, max=2100, help="全年（1月1日至12月31日）/ a whole town year."
            ),
        ] = None,
    ) -> None:
        """统计报表 / Staff statistics (default: this month, as tables)."""
        from bot.services import report as rp
        from bot.wiring import open_database

        if sum(bool(x) for x in (as_json, xlsx, csv_dir, charts)) > 1:
            err.print(
                "[red]错误 error:[/red] 只能选一种输出 / choose one of --json --xlsx --csv --charts"
            )
            raise typer.Exit(2)
        cfg = get_config()
        tz = cfg.town.tz
        if year is not None and (first or last):
            err.print(
                "[red]错误 error:[/red] --year 不能和 --from/--to 同用 / --year or --from/--to"
            )
            raise typer.Exit(2)
        try:
            if year is not None:
                start, end = rp.year_period(year, tz)
            else:
                start, end = rp.period_from_dates(_date(first, "--from"), _date(last, "--to"), tz)
        except ValueError as exc:
            err.print(f"[red]错误 error:[/red] {exc}")
            raise typer.Exit(2) from None
        db = open_database(cfg)
        try:
            started = time.perf_counter()
            names = rp.load_topic_names(cfg.resolve(cfg.knowledge.kb_dir))
            built = rp.build_report(db, cfg, start, end, topic_names=names)
            if as_json:
                print(built.to_json())
            elif xlsx:
                path = rp.write_xlsx(built, db, xlsx)
                err.print(f"已写入 wrote {path} ({time.perf_counter() - started:.1f} s)")
            elif csv_dir:
                files = rp.write_csv(built, db, csv_dir)
                err.print(f"已写入 wrote {len(files)} files to {csv_dir}")
            elif charts:
                try:
                    files = rp.write_charts(built, charts)
                except rp.FontMissing as exc:
                    err.print(f"[red]错误 error:[/red] {exc}")
                    raise typer.Exit(1) from None
                err.print(f"已写入 wrote {len(files)} charts to {charts}")
            else:
                rp.render_rich(built, out)
        finally:
            db.dispose()

    @app.command("demo-data")
    def demo_data(
        villagers: Annotated[int, typer.Option("--villagers", min=1, help="村民人数")] = 200,
        months: Annotated[int, typer.Option("--months", min=1, max=60, help="月数")] = 12,
        seed: Annotated[int, typer.Option("--seed", help="随机种子 / random seed")] = 1,
    ) -> None:
        """生成演示数据 / Create a synthetic consultation history through the real service."""
        from bot.ops.demo import generate_demo_data
        from bot.wiring import build_service, open_database

        cfg = get_config()
        if not cfg.villages:
            err.print("[red]错误 error:[/red] 配置里没有村 / no [[villages]] configured")
            raise typer.Exit(2)
        db = open_database(cfg)
        try:
            service = build_service(cfg, db=db, semantic=False)
            started = datetime.now().astimezone()
            summary = generate_demo_data(service, villagers=villagers, months=months, seed=seed)
            seconds = (datetime.now().astimezone() - started).total_seconds()
            err.print(
                f"已生成 created {summary.consultations} consultations, "
                f"{summary.escalations} escalations, {summary.feedback} feedback "
                f"for {summary.villagers} villagers in {seconds:.1f} s ({db.backend})"
            )
        finally:
            db.dispose()
