"""`lawbot wechat menu`: create the Official Account's custom menu (咨询 / 普法 / 找法律顾问)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bot.config import Config

__all__ = ["register"]

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="配置文件 / config file (else $LAWBOT_CONFIG, ./config.toml)."
    ),
]


def register(app: typer.Typer, get_config: Callable[[Path | None], Config]) -> None:
    """Add `wechat menu` to the `lawbot` command line."""
    wechat_app = typer.Typer(
        help="微信公众号 / The WeChat Official Account channel.", no_args_is_help=True
    )
    app.add_typer(wechat_app, name="wechat")

    @wechat_app.command("menu")
    def create_menu(config: ConfigOption = None) -> None:
        """创建公众号菜单 / Create the custom menu: 咨询 / 普法 / 找法律顾问."""
        from bot.channels.wechat import WechatClient, WechatError, custom_menu
        from bot.config import Wechat

        settings = get_config(config).wechat.resolved()
        secret = Wechat.secret()
        if not settings.app_id or not secret:
            missing = " and ".join(
                name
                for name, value in (
                    ("[wechat] app_id (or LAWBOT_WECHAT_APP_ID)", settings.app_id),
                    ("LAWBOT_WECHAT_SECRET", secret),
                )
                if not value
            )
            err.print(f"[red]错误 error:[/red] 缺少公众号 AppID 或 AppSecret / needs {missing}")
            raise typer.Exit(2)
        client = WechatClient(
            app_id=settings.app_id, secret=secret, base_url=settings.api_base_url
        )

        async def create() -> None:
            try:
                await client.create_menu(custom_menu())
            finally:
                await client.aclose()

        try:
            asyncio.run(create())
        except WechatError as exc:
            err.print(
                f"[red]错误 error:[/red] 微信接口 {settings.api_base_url} 拒绝或无法访问 / the "
                f"WeChat API refused or could not be reached: {exc}"
            )
            raise typer.Exit(2) from None
        out.print("已创建公众号菜单 menu created: 咨询 / 普法 / 找法律顾问")
