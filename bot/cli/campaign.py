"""`lawbot campaign list|preview|send|status|bench`: publicity pushes from the command line."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
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

from bot.config import Config, Wechat, token_from_env
from bot.services.campaign_schedule import Occurrence
from bot.services.campaigns import CampaignService, SendFunc

__all__ = ["register"]

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def _service(cfg: Config) -> CampaignService:
    from bot.wiring import build_campaigns

    return build_campaigns(cfg)


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


def _wechat_push(cfg: Config) -> tuple[SendFunc, Callable[[], Any]] | None:
    """The WeChat push sender and its closer, when `[wechat] app_id` and the secret are set."""
    from bot.channels.wechat import WechatClient
    from bot.channels.wechat.pushes import wechat_sender
    from bot.channels.wechat.render import Choices

    settings = cfg.wechat.resolved()
    secret = Wechat.secret()
    if not settings.app_id or not secret:
        return None
    client = WechatClient(app_id=settings.app_id, secret=secret, base_url=settings.api_base_url)
    # Typed numbers answering this push reach the `/wechat` process, which reads them from the
    # delivery log (this process's memory of the offer ends with it).
    send = wechat_sender(
        client,
        choices=Choices(),
        template_id=settings.push_template_id,
        town=cfg.town.name,
    )
    return send, client.aclose


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
        """立即发送（或续发）推送 / Send (or resume) a push now, with a progress bar.

        Telegram villagers through the bot (`LAWBOT_TOKEN`), WeChat followers through the
        account's API (`[wechat] app_id`, `LAWBOT_WECHAT_SECRET`); at least one is needed.
        """
        from telegram import Bot
        from telegram.request import HTTPXRequest

        from bot.channels.telegram.campaign_handlers import telegram_sender

        cfg = get_config()
        token = token_from_env()
        wechat = _wechat_push(cfg)
        if token is None and wechat is None:
            err.print(
                "[red]错误 error:[/red] 请设置 LAWBOT_TOKEN 或微信 app_id 与 LAWBOT_WECHAT_SECRET "
                "/ set LAWBOT_TOKEN, or [wechat] app_id and LAWBOT_WECHAT_SECRET"
            )
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
        bot = (
            None
            if token is None
            else Bot(
                token,
                base_url=cfg.telegram.base_url,
                base_file_url=cfg.telegram.base_file_url,
                request=HTTPXRequest(connection_pool_size=64),
            )
        )

        async def go(advance: Callable[[str], None]) -> dict[str, int]:
            senders: dict[str, SendFunc] = {}
            try:
                if wechat is not None:
                    senders["wechat"] = wechat[0]
                if bot is None:
                    return await service.deliver(run_id, senders, on_progress=advance)
                async with bot:
                    senders["telegram"] = telegram_sender(bot)
                    return await service.deliver(run_id, senders, on_progress=advance)
            finally:
                if wechat is not None:
                    await wechat[1]()

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
        from bot.ops.broadcast_bench import bench_broadcast

        result = bench_broadcast(
            get_config(), subscribers=subscribers, rate=rate, faults=faults, show=_deliver_with_bar
        )
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
