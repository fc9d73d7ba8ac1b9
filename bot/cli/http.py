"""`lawbot serve` (the HTTP JSON API under uvicorn) and `lawbot api-key create|revoke|list`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from bot.config import Config

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from bot.channels.http.app import Notify
    from bot.channels.http.keys import ApiKeys
    from bot.channels.notify import NoticeRouter
    from bot.services.campaigns import SendFunc
    from bot.services.container import Services

__all__ = ["register"]

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="配置文件 / config file (else $LAWBOT_CONFIG, ./config.toml)."
    ),
]


def _host_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        err.print(f"[red]错误 error:[/red] --listen 应为 HOST:PORT, got `{listen}`")
        raise typer.Exit(2)
    return host.strip("[]"), int(port)


def _telegram_notifier(
    services: Services, token: str, senders: dict[str, SendFunc] | None = None
) -> tuple[Notify, Callable[[Starlette], AbstractAsyncContextManager[None]]]:
    """Send advisor cards and other notices through the Telegram bot (same token as `run`);
    `senders["telegram"]` gets the same bot's publicity-push sender."""
    from telegram import Bot

    from bot.channels.telegram.campaign_handlers import telegram_sender
    from bot.channels.telegram.send import deliver_notices
    from bot.services.outcomes import Notice

    config = services.config
    bot = Bot(
        token,
        base_url=config.telegram.base_url,
        base_file_url=config.telegram.base_file_url,
    )
    if senders is not None:
        senders["telegram"] = telegram_sender(bot)

    async def notify(notices: tuple[Notice, ...]) -> None:
        await deliver_notices(bot, notices, services.consultation)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with bot:  # getMe: a wrong token stops the server at start-up
            yield

    return notify, lifespan


AppContext = Callable[["Starlette"], AbstractAsyncContextManager[None]]


def _notifiers(
    services: Services, token: str | None, senders: dict[str, SendFunc] | None = None
) -> tuple[NoticeRouter, list[AppContext]]:
    """The notice router of this process: Telegram when a token is set, e-mail copies when
    `[notify] smtp_url` is set; HTTP and web-chat users fetch their own messages."""
    from bot.channels.notify import NoticeRouter

    by_channel: dict[str, Notify] = {}
    contexts: list[AppContext] = []
    copies: list[Notify] = []
    if token is not None:
        telegram, context = _telegram_notifier(services, token, senders)
        by_channel["telegram"] = telegram
        contexts.append(context)
    else:
        logging.getLogger(__name__).warning(
            "no Telegram bot (LAWBOT_TOKEN unset): advisor cards are not sent by Telegram "
            "(advisors see them in the queue%s)",
            ", and by e-mail" if services.config.notify.smtp_url else "",
        )
    if services.config.notify.smtp_url:
        from bot.channels.email import EmailNotifier

        copies.append(EmailNotifier(services.config.notify))
    return NoticeRouter(by_channel, copies), contexts


async def console_root(request: Request) -> Response:
    """GET /console: the dashboard when signed in, else the sign-in form."""
    from starlette.responses import RedirectResponse

    from bot.channels.webconsole import SESSION_COOKIE

    signed_in = SESSION_COOKIE in request.cookies
    return RedirectResponse("/console/" if signed_in else "/console/login", status_code=303)


def _channel_routes(
    services: Services,
    router: NoticeRouter,
    contexts: list[AppContext],
    senders: dict[str, SendFunc] | None = None,
) -> list[BaseRoute]:
    """The routes served beside the JSON API: web chat, staff console, WeChat (with a token)."""
    from starlette.responses import RedirectResponse
    from starlette.routing import Mount, Route

    from bot.channels.metrics import ops_routes
    from bot.channels.web import web_routes
    from bot.channels.webconsole import build_console_app

    config = services.config
    routes: list[BaseRoute] = [*ops_routes(services), *web_routes(services, notify=router)]
    if config.console.enabled:
        routes.append(Route("/console", console_root, methods=["GET"]))
        send = (senders or {}).get("telegram")  # the console's pushes go to Telegram villagers
        routes.append(Mount("/console", app=build_console_app(services, notify=router, send=send)))
    if config.wechat.resolved().token:
        from bot.channels.wechat import build_wechat

        wechat = build_wechat(services, notify=router)
        router.by_channel["wechat"] = wechat.notifier.deliver
        push = wechat.push_sender()  # publicity pushes to followers (needs the API client)
        if push is not None and senders is not None:
            senders["wechat"] = push
        routes += wechat.routes

        @asynccontextmanager
        async def closing(_app: Starlette) -> AsyncIterator[None]:
            try:
                yield
            finally:
                await wechat.aclose()

        contexts.append(closing)

    async def home(_request: object) -> RedirectResponse:
        return RedirectResponse("/chat", status_code=307)

    routes.append(Route("/", home, methods=["GET"]))
    return routes


def _together(contexts: Sequence[AppContext]) -> AppContext | None:
    """One ASGI lifespan entering every context in order (None when there are none)."""
    if not contexts:
        return None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for context in contexts:
                await stack.enter_async_context(context(app))
            yield

    return lifespan


def register(app: typer.Typer, get_config: Callable[[Path | None], Config]) -> None:
    """Add `serve` and `api-key` to the `lawbot` command line."""
    keys_app = typer.Typer(
        help="HTTP API 密钥 / API keys of the HTTP channel.", no_args_is_help=True
    )
    app.add_typer(keys_app, name="api-key")

    @app.command("serve")
    def serve(
        config: ConfigOption = None,
        listen: Annotated[
            str | None,
            typer.Option("--listen", help="监听 HOST:PORT / address (default: [http] listen)."),
        ] = None,
        notify_telegram: Annotated[
            bool | None,
            typer.Option(
                "--notify-telegram/--no-notify-telegram",
                help="用 Telegram 机器人给顾问发卡片 / send advisor cards through the Telegram "
                "bot (default: when LAWBOT_TOKEN is set).",
            ),
        ] = None,
        log_json: Annotated[
            bool,
            typer.Option(
                "--log-json/--no-log-json",
                envvar="LAWBOT_LOG_JSON",
                help="每行一个 JSON 日志 / one JSON object per log line (time, level, logger, "
                "message, update_key).",
            ),
        ] = False,
    ) -> None:
        """运行 HTTP JSON API / Serve the HTTP JSON API (uvicorn)."""
        import uvicorn
        from uvicorn.config import LOGGING_CONFIG

        from bot.channels.http import build_http_app
        from bot.config import token_from_env
        from bot.wiring import build_services

        cfg = get_config(config)
        host, port = _host_port(listen or cfg.http.listen)
        token = token_from_env()
        if notify_telegram and token is None:
            err.print(
                "[red]错误 error:[/red] --notify-telegram 需要 LAWBOT_TOKEN / needs the "
                "LAWBOT_TOKEN environment variable"
            )
            raise typer.Exit(2)
        if log_json:
            from bot.channels.logs import use_json_logs

            use_json_logs(logging.INFO)
        logging.getLogger().setLevel(logging.INFO)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        services = build_services(cfg)
        senders: dict[str, SendFunc] = {}
        notify, contexts = _notifiers(
            services, token if notify_telegram is not False else None, senders
        )
        from bot.channels.web import WebSecretError

        try:
            routes = _channel_routes(services, notify, contexts, senders)
        except (ValueError, WebSecretError) as exc:  # a bad channel secret: one line naming it
            err.print(f"[red]错误 error:[/red] {exc}")
            raise typer.Exit(2) from None
        from bot.channels.scheduler import Scheduler

        # KB reloads run in every worker; SLA sweeps and held messages only on the elected leader
        # and, when WeChat can push, the publicity pushes (to every channel with a sender here)
        scheduler = Scheduler(
            services,
            notify,
            lead=cfg.scheduler.enabled,
            senders=senders if "wechat" in senders else None,
        )
        contexts.append(lambda _app: scheduler.running())
        application = build_http_app(
            services, notify=notify, lifespan=_together(contexts), extra_routes=routes
        )
        try:
            uvicorn.run(
                application,
                host=host,
                port=port,
                log_level="info",
                log_config=None if log_json else LOGGING_CONFIG,
                proxy_headers=False,
                timeout_graceful_shutdown=5,  # open chat streams end; they reconnect
            )
        finally:
            services.consultation.db.dispose()

    def _keys(config: Path | None) -> tuple[ApiKeys, Callable[[], None]]:
        from bot.channels.http.keys import ApiKeys
        from bot.wiring import open_database

        db = open_database(get_config(config))
        return ApiKeys(db, env_key=None), db.dispose

    @keys_app.command("create")
    def create(
        name: Annotated[str, typer.Argument(help="密钥名称 / key name (a-z 0-9 - _, ≤ 16).")],
        config: ConfigOption = None,
    ) -> None:
        """创建密钥，只显示一次 / Create a key; it is printed once, alone on the last line."""
        from bot.channels.http.keys import ApiKeyError

        keys, close = _keys(config)
        try:
            key = keys.create(name)
        except ApiKeyError as exc:
            err.print(f"[red]错误 error:[/red] {exc}")
            raise typer.Exit(2) from None
        finally:
            close()
        out.print(
            f"已创建密钥 {name}，请妥善保存，不会再显示 / key {name!r} created; store it now, "
            "it is not shown again:"
        )
        print(key)

    @keys_app.command("revoke")
    def revoke(
        name: Annotated[str, typer.Argument(help="密钥名称 / key name.")],
        config: ConfigOption = None,
    ) -> None:
        """吊销密钥 / Revoke a key (its requests get 401 at once)."""
        from bot.channels.http.keys import ApiKeyError

        keys, close = _keys(config)
        try:
            keys.revoke(name)
        except ApiKeyError as exc:
            err.print(f"[red]错误 error:[/red] {exc}")
            raise typer.Exit(2) from None
        finally:
            close()
        out.print(f"已吊销密钥 key revoked: {name}")

    @keys_app.command("list")
    def list_keys(config: ConfigOption = None) -> None:
        """列出密钥（不显示密钥本身）/ List the keys (never the keys themselves)."""
        keys, close = _keys(config)
        try:
            entries = keys.entries()
        finally:
            close()
        if not entries:
            out.print("还没有密钥 no keys yet: lawbot api-key create NAME")
            return
        table = Table("名称 name", "创建 created (UTC)", "状态 state")
        for entry in entries:
            state = (
                f"已吊销 revoked {entry.revoked_at:%Y-%m-%d %H:%M}"
                if entry.revoked_at
                else "有效 active"
            )
            table.add_row(entry.name, f"{entry.created_at:%Y-%m-%d %H:%M}", state)
        out.print(table)
