"""`lawbot campaign list|preview|send|status|bench`: publicity pushes from the command line."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from bot.campaign_schedule import Occurrence
from bot.campaigns import CampaignService, Pacing
from bot.config import Config, token_from_env

__all__ = ["BenchResult", "bench_broadcast", "register"]

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def _service(cfg: Config) -> CampaignService:
    from bot.runtime import load_knowledge, open_database

    return CampaignService(config=cfg, kb=load_knowledge(cfg), db=open_database(cfg))


def _find(service: CampaignService, key: str, day: str | None) -> Occurrence:
    if key not in service.push_keys():
        err.print(f"[red]错误 error:[/red] 没有这个推送 unknown push `{key}`")
        err.print("  " + ", ".join(service.push_keys()) if service.push_keys() else "  （未配置）")
        raise typer.Exit(2)
    if day is None:
        occ = service.next_occurrence(key)
    else:
        wanted = date.fromisoformat(day)
        start = datetime.combine(wanted - timedelta(days=2), datetime.min.time(), tzinfo=UTC)
        found = service.occurrences(start, start + timedelta(days=5))
        occ = next((o for o in found if o.push_key == key and o.scheduled_for == wanted), None)
    if occ is None:
        err.print(
            f"[red]错误 error:[/red] `{key}` 在 {day or '接下来一年'} 没有推送 no occurrence"
        )
        raise typer.Exit(2)
    return occ


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[rate]:.1f}/s  {task.fields[states]}"),
        console=out,
    )


async def _deliver_with_bar(
    label: str, total: int, work: Callable[[Callable[[str], None]], Any]
) -> dict[str, int] | None:
    states: Counter[str] = Counter()
    started = time.monotonic()
    with _progress() as progress:
        task = progress.add_task(label, total=total, rate=0.0, states="")

        def advance(state: str) -> None:
            states[state] += 1
            elapsed = max(time.monotonic() - started, 1e-6)
            text = " ".join(f"{k}:{v}" for k, v in sorted(states.items()))
            progress.update(task, advance=1, rate=sum(states.values()) / elapsed, states=text)

        result: dict[str, int] | None = await work(advance)
    return result


@dataclass(frozen=True)
class BenchResult:
    """One broadcast benchmark against the emulator."""

    subscribers: int
    configured_rate: float
    faults: bool
    seconds: float
    send_rate: float  # successful sendMessage calls per second (first to last)
    counts: dict[str, int]
    duplicates: int
    lost: int  # deliveries not in a final state, or subscribers without a delivery row
    mismatched: int  # rows `sent` without a successful call, or calls without a `sent` row


def bench_broadcast(
    cfg: Config, *, subscribers: int = 2000, rate: float | None = None, faults: bool = False
) -> BenchResult:
    """Broadcast to `subscribers` emulated villagers (tests/emulator.py) and measure."""
    try:
        from tests.emulator import Emulator, Fault
    except ImportError as exc:  # pragma: no cover - installed without the tests
        raise RuntimeError("the bench needs tests/emulator.py (a source checkout)") from exc
    from sqlalchemy import insert
    from telegram import Bot
    from telegram.request import HTTPXRequest

    from bot.telegram.campaign_handlers import telegram_sender
    from knowledge.models import KnowledgeBase
    from storage.campaign_models import CampaignDelivery
    from storage.db import Database
    from storage.models import Villager

    rate = rate or cfg.campaigns.rate_per_second
    emulator = Emulator(seed=5)
    base_url = emulator.start()
    with tempfile.TemporaryDirectory(prefix="lawbot-bench-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        db.upgrade()
        now = datetime.now(UTC)
        first = 8_000_000
        with db.session() as session:
            session.execute(
                insert(Villager),
                [
                    {
                        "channel": "telegram",
                        "channel_user_id": str(first + i),
                        "chat_id": str(first + i),
                        "label": f"村民{i}",
                        "village_code": "waihong",
                        "role": "villager",
                        "subscribed": True,
                        "elder_mode": False,
                        "active": True,
                        "created_at": now,
                        "last_seen_at": now,
                    }
                    for i in range(subscribers)
                ],
            )
        if faults:
            emulator.fail(
                "sendMessage", Fault(429, "Too Many Requests: retry after 1", 1, times=3)
            )
            emulator.fail(
                "sendMessage",
                Fault(403, "Forbidden: bot was blocked by the user", times=20, probability=0.01),
            )
            emulator.fail(
                "sendMessage", Fault(500, "Internal Server Error", times=40, probability=0.02)
            )
        service = CampaignService(
            config=cfg,
            kb=KnowledgeBase(topics=()),
            db=db,
            schedule=(),
            pacing=Pacing(rate_per_second=rate),
        )
        run_id = service.start_broadcast("基准测试 benchmark", None, actor="bench")
        bot = Bot(
            "123456:BENCH",
            base_url=base_url,
            request=HTTPXRequest(connection_pool_size=64, read_timeout=10),
        )

        async def go(advance: Callable[[str], None]) -> dict[str, int]:
            async with bot:
                return await service.deliver(run_id, telegram_sender(bot), on_progress=advance)

        started = time.monotonic()
        counts = asyncio.run(_deliver_with_bar("bench", subscribers, go)) or {}
        seconds = time.monotonic() - started
        from sqlmodel import select

        with db.session() as session:
            rows = session.exec(select(CampaignDelivery)).all()
        db.dispose()
    emulator.stop()
    calls = [c for c in emulator.calls if c.method == "sendMessage" and c.ok]
    emulator_ok = Counter(str(c.params.get("chat_id")) for c in calls)
    sent_rows = {r.chat_id for r in rows if r.state == "sent"}
    final = {"sent", "failed", "blocked", "deactivated", "skipped"}
    span = (calls[-1].at - calls[0].at) if len(calls) > 1 else 0.0
    return BenchResult(
        subscribers=subscribers,
        configured_rate=rate,
        faults=faults,
        seconds=seconds,
        send_rate=(len(calls) - 1) / span if span else 0.0,
        counts=counts,
        duplicates=sum(n - 1 for n in emulator_ok.values() if n > 1),
        lost=subscribers - sum(1 for r in rows if r.state in final),
        mismatched=len(sent_rows ^ set(emulator_ok)),
    )


def register(app: typer.Typer, get_config: Callable[[], Config]) -> None:
    """Add `campaign list|preview|send|status|bench` to the `lawbot` command line."""
    campaign_app = typer.Typer(help="普法推送 / Publicity pushes.", no_args_is_help=True)
    app.add_typer(campaign_app, name="campaign")

    @campaign_app.command("list")
    def list_pushes(
        limit: Annotated[int, typer.Option("--limit", "-n", help="条数 / how many.")] = 20,
    ) -> None:
        """接下来的推送 / Upcoming pushes with time and audience size."""
        service = _service(get_config())
        tz = service.config.town.tz
        table = Table(
            "时间 time", "推送 push", "主题 campaign", "对象 audience", "人数 size", "状态"
        )
        for occ in service.upcoming(limit=limit):
            table.add_row(
                occ.at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                occ.push_key,
                service.title(occ.campaign),
                "全部" if occ.villages is None else ",".join(occ.villages),
                str(service.audience_size(occ.villages)),
                "" if service.is_open(occ) else "已处理 handled",
            )
        out.print(table if table.row_count else "未配置推送 no [[campaigns.schedule]] configured")
        for problem in service.problems():
            err.print(f"[yellow]警告 warning:[/yellow] {problem}")
        service.db.dispose()

    @campaign_app.command("preview")
    def preview(
        push: Annotated[
            str, typer.Argument(help="推送编号 / push key, e.g. constitution_day.week")
        ],
    ) -> None:
        """预览推送内容 / Show a push's text and audience."""
        service = _service(get_config())
        occ = _find(service, push, None)
        when = occ.at.astimezone(service.config.town.tz).strftime("%Y-%m-%d %H:%M")
        size = service.audience_size(occ.villages)
        out.print(f"[bold]{occ.push_key}[/bold]  {when}  → {size} 人 ({occ.message_id})\n")
        out.print(service.render(occ))
        service.db.dispose()

    @campaign_app.command("send")
    def send(
        push: Annotated[str, typer.Argument(help="推送编号 / push key.")],
        day: Annotated[
            str | None, typer.Option("--date", help="哪一次 / scheduled date YYYY-MM-DD.")
        ] = None,
        yes: Annotated[
            bool, typer.Option("--yes", "-y", help="不确认 / no confirmation.")
        ] = False,
    ) -> None:
        """立即发送（或续发）推送 / Send (or resume) a push now, with a progress bar."""
        from telegram import Bot
        from telegram.request import HTTPXRequest

        from bot.telegram.campaign_handlers import telegram_sender

        cfg = get_config()
        token = token_from_env()
        if token is None:
            err.print("[red]错误 error:[/red] 请设置 LAWBOT_TOKEN / set LAWBOT_TOKEN")
            raise typer.Exit(2)
        service = _service(cfg)
        occ = _find(service, push, day)
        if not service.is_open(occ):
            err.print(f"{occ.push_key}（{occ.scheduled_for}）已发过或已取消 already handled")
            raise typer.Exit(1)
        size = service.audience_size(occ.villages)
        if not yes and not typer.confirm(f"发送 {occ.push_key} 给 {size} 人？ send?"):
            raise typer.Exit(1)
        run_id = service.start_run(occ, actor=f"cli:{os.environ.get('USER', '')}")
        if run_id is None:
            raise typer.Exit(1)
        bot = Bot(
            token,
            base_url=cfg.telegram.base_url,
            base_file_url=cfg.telegram.base_file_url,
            request=HTTPXRequest(connection_pool_size=64),
        )

        async def go(advance: Callable[[str], None]) -> dict[str, int]:
            async with bot:
                return await service.deliver(run_id, telegram_sender(bot), on_progress=advance)

        counts = asyncio.run(_deliver_with_bar(occ.push_key, size, go)) or {}
        out.print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())))
        service.db.dispose()

    @campaign_app.command("status")
    def status(
        limit: Annotated[int, typer.Option("--limit", "-n", help="条数 / how many.")] = 20,
    ) -> None:
        """推送统计 / Per push: targeted, sent, failed, blocked, 退订, 👍有用."""
        service = _service(get_config())
        table = Table(
            "推送 push", "日期 date", "状态 state", "目标", "发出 sent", "失败 failed",
            "屏蔽 blocked", "跳过 skipped", "退订", "👍有用",
        )  # fmt: skip
        for r in service.reports(limit=limit):
            table.add_row(
                r.push_key,
                str(r.scheduled_for),
                r.state,
                str(r.targeted),
                str(r.count("sent")),
                str(r.count("failed")),
                str(r.count("blocked") + r.count("deactivated")),
                str(r.count("skipped")),
                str(r.clicks.get("unsubscribe", 0)),
                str(r.clicks.get("useful", 0)),
            )
        out.print(table if table.row_count else "还没有推送记录 no pushes yet")
        service.db.dispose()

    @campaign_app.command("bench")
    def bench(
        subscribers: Annotated[int, typer.Option("--subscribers", "-n")] = 2000,
        rate: Annotated[
            float | None, typer.Option("--rate", help="条/秒 (default: config)")
        ] = None,
        faults: Annotated[
            bool, typer.Option("--faults/--no-faults", help="注入 429/403/500")
        ] = False,
    ) -> None:
        """推送速率基准（模拟器）/ Broadcast rate to emulated subscribers (source checkout)."""
        result = bench_broadcast(get_config(), subscribers=subscribers, rate=rate, faults=faults)
        share = result.send_rate / result.configured_rate
        out.print(
            f"{result.subscribers} subscribers, configured {result.configured_rate:g}/s, "
            f"faults={'on' if result.faults else 'off'}: {result.seconds:.1f} s, "
            f"send rate {result.send_rate:.2f}/s ({share:.0%} of configured), "
            f"overall {result.subscribers / result.seconds:.2f}/s"
        )
        out.print(
            f"  states {dict(sorted(result.counts.items()))}; duplicates {result.duplicates}, "
            f"lost {result.lost}, log/emulator mismatches {result.mismatched}"
        )
        if result.duplicates or result.lost or result.mismatched:
            raise typer.Exit(1)
