"""`lawbot users add|passwd|disable|list`: accounts of the staff web console."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from bot.config import Config

if TYPE_CHECKING:
    from bot.services.accounts import AccountService

__all__ = ["register"]

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def _password() -> str:
    """Read the password: from a terminal twice without echo, else one line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass("密码 password: ")
        if getpass.getpass("再输一次 again: ") != first:
            err.print("[red]错误 error:[/red] 两次输入的密码不一样 / the passwords differ")
            raise typer.Exit(2)
        return first
    return sys.stdin.readline().rstrip("\n")


def register(app: typer.Typer, get_config: Callable[[Path | None], Config]) -> None:
    """Add `users` to the `lawbot` command line."""
    users_app = typer.Typer(help="控制台账号 / accounts of the web console.", no_args_is_help=True)
    app.add_typer(users_app, name="users")

    def accounts() -> tuple[AccountService, Callable[[], None]]:
        from bot.services.accounts import AccountService
        from bot.wiring import open_database
        from storage.clock import utcnow

        cfg = get_config(None)
        db = open_database(cfg)
        return AccountService(config=cfg, db=db, clock=utcnow), db.dispose

    def run(call: Callable[[AccountService], object]) -> object:
        from bot.services.accounts import AccountError

        service, close = accounts()
        try:
            return call(service)
        except AccountError as exc:
            err.print(f"[red]错误 error:[/red] {exc}")
            raise typer.Exit(2) from None
        finally:
            close()

    @users_app.command("add")
    def add(
        name: Annotated[str, typer.Argument(help="用户名 / name (a-z 0-9 . _ -).")],
        role: Annotated[str, typer.Option("--role", help="staff | admin | advisor")],
        village: Annotated[
            list[str] | None, typer.Option("--village", help="法律顾问的村 / advisor's village.")
        ] = None,
        telegram_id: Annotated[
            str | None, typer.Option("--telegram-id", help="关联的 Telegram 编号 / linked id.")
        ] = None,
    ) -> None:
        """新建账号，密码从标准输入读取 / Add an account; the password is read from stdin."""
        password = _password()
        run(
            lambda s: s.add(
                name, role, password, villages=village or [], telegram_id=telegram_id, actor="cli"
            )
        )
        out.print(f"已新建账号 account added: {name} ({role})")

    @users_app.command("passwd")
    def passwd(name: Annotated[str, typer.Argument(help="用户名 / name.")]) -> None:
        """重设密码并解除锁定 / Set a new password (from stdin) and lift a lockout."""
        password = _password()
        run(lambda s: s.set_password(name, password, actor="cli"))
        out.print(f"密码已更新 password set: {name}")

    @users_app.command("disable")
    def disable(name: Annotated[str, typer.Argument(help="用户名 / name.")]) -> None:
        """停用账号 / Disable an account."""
        run(lambda s: s.disable(name, actor="cli"))
        out.print(f"已停用 disabled: {name}")

    @users_app.command("list")
    def list_users() -> None:
        """列出账号 / List the accounts."""
        rows = run(lambda s: s.accounts())
        assert isinstance(rows, list)
        table = Table("用户名 name", "角色 role", "村 villages", "Telegram", "状态 state")
        for user in rows:
            state = "已停用 disabled" if user.disabled_at else "正常 active"
            table.add_row(user.name, user.role, user.villages, user.telegram_id or "", state)
        out.print(table)
