"""Screenshots of every staff-console page (`python -m bot.ops.console_screenshots docs/console`).

Builds the services on a scratch SQLite database, fills it with demo history through the real
service (`bot.ops.demo`), a few Telegram subscribers, a push already sent, a waiting draft, and
an admin account; serves the console as `lawbot serve` mounts it; and has Debian's Chromium
(`/usr/bin/chromium`, or `$LAWBOT_CHROMIUM`) save one PNG per page, with the CJK font the
report charts use (`bot.services.report.cjk_font`) added to fontconfig, so Chinese renders on
a machine without a system CJK font. The pages are the console's
GET routes without path parameters, so a new page gets its screenshot without editing this file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.channels.webconsole import build_console_app
from bot.channels.webconsole.security import ENV_SECRET
from bot.config import Config, example_path, load_config
from bot.ops.demo import generate_demo_data
from bot.services.campaigns import Buttons
from bot.services.container import Services
from bot.services.outcomes import Sender
from bot.wiring import build_services
from storage.db import Database

__all__ = ["main", "take_screenshots"]

ADMIN, PASSWORD = "demo-admin", "demo-password-0123"
WIDTH, HEIGHT = 1280, 900
NAMES = {"": "dashboard"}  # the path's slug otherwise: /ledger -> ledger.png


def _config(scratch: Path, explicit: Path | None) -> Config:
    config = load_config(explicit or example_path())
    return config.model_copy(
        update={
            "database": config.database.model_copy(
                update={"url": f"sqlite:///{scratch / 'demo.sqlite3'}"}
            ),
            "knowledge": config.knowledge.model_copy(update={"drafts_dir": str(scratch / "kb")}),
        }
    )


def _fill(services: Services) -> None:
    """Demo history, subscribers, one sent push, one waiting draft and the admin account."""
    consultation = services.consultation
    generate_demo_data(consultation, villagers=80, months=3, seed=7)
    villages = [v.code for v in services.config.villages]
    for n in range(24):
        chat = str(880_000 + n)
        consultation.start(Sender("telegram", chat, chat), villages[n % len(villages)])
    campaigns = services.campaigns
    upcoming = campaigns.upcoming(limit=2)
    if len(upcoming) > 1:
        run_id = campaigns.start_run(upcoming[1], actor="demo")

        async def send(_chat: str, _text: str, _buttons: Buttons) -> None:
            return None

        if run_id is not None:
            asyncio.run(campaigns.deliver(run_id, send))
    consultation.drafts.create(
        question="村里修路占了我家菜园子给不给补偿",
        answer="村里修路占用您使用的菜地，应当和您协商并依法给予补偿；协商不成可以找镇司法所调解。",
        topic_key="land",
        actor=ADMIN,
        basis=["中华人民共和国土地管理法:48"],
    )
    services.accounts.add(ADMIN, "admin", PASSWORD, actor="demo")


@contextmanager
def _serving(services: Services) -> Iterator[tuple[str, list[str]]]:
    """Serve the console at /console on 127.0.0.1; yield the base URL and its page paths."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount, Route

    async def no_send(_chat: str, _text: str, _buttons: Buttons) -> None:
        return None

    console = build_console_app(services, send=no_send)
    app = Starlette(routes=[Mount("/console", app=console)])
    pages = [
        r.path.lstrip("/")
        for r in console.routes
        if isinstance(r, Route) and "GET" in (r.methods or ()) and not r.param_convertors
        if r.path not in ("/login",) and "." not in r.path
    ]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", ["login", *pages]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _fontconfig(scratch: Path) -> dict[str, str | float | bool]:
    """The environment giving Chromium the system fonts plus the CJK font of the charts."""
    from bot.services.report import cjk_font

    conf = scratch / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>'
        '<include ignore_missing="yes">/etc/fonts/fonts.conf</include>'
        f"<dir>{cjk_font().parent}</dir><cachedir>{scratch / 'fc-cache'}</cachedir>"
        "</fontconfig>\n",
        encoding="utf-8",
    )
    return {**os.environ, "FONTCONFIG_FILE": str(conf)}


async def _shoot(
    base: str,
    pages: list[str],
    out: Path,
    chromium: str,
    push: str,
    env: dict[str, str | float | bool],
) -> list[Path]:
    from playwright.async_api import async_playwright

    saved: list[Path] = []
    since = (datetime.now(UTC) - timedelta(days=90)).date()  # the demo history's months
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium,
            args=["--headless", "--no-sandbox", "--disable-gpu"],
            env=env,
        )
        context = await browser.new_context(
            viewport={"width": WIDTH, "height": HEIGHT}, locale="zh-CN"
        )
        page = await context.new_page()
        await page.goto(f"{base}/console/login")
        saved.append(out / "login.png")
        await page.screenshot(path=str(saved[-1]), full_page=True)
        await page.fill("input[name=username]", ADMIN)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("form.login button[type=submit]")
        await page.wait_for_url(f"{base}/console/")
        for path in pages:
            if path == "login":
                continue
            query = {"campaigns/confirm": f"?{push}", "": f"?from={since}"}.get(path, "")
            await page.goto(f"{base}/console/{path}{query}")
            name = NAMES.get(path, path.replace("/", "-"))
            saved.append(out / f"{name}.png")
            await page.screenshot(path=str(saved[-1]), full_page=True)
        await browser.close()
    return saved


def take_screenshots(out: Path, *, config: Path | None = None) -> list[Path]:
    """Save a PNG of every console page into `out`; return the files."""
    chromium = os.environ.get("LAWBOT_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        raise SystemExit(f"{chromium} is missing (apt-get install chromium)")
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault(ENV_SECRET, "screenshots-" + "s" * 40)
    with tempfile.TemporaryDirectory() as scratch:
        cfg = _config(Path(scratch), config)
        db = Database(cfg.database.url)
        db.upgrade()
        services = build_services(cfg, db=db, semantic=False)
        try:
            _fill(services)
            occ = services.campaigns.upcoming(limit=1)
            push = f"push={occ[0].push_key}&day={occ[0].scheduled_for}" if occ else ""
            with _serving(services) as (base, pages):
                env = _fontconfig(Path(scratch))
                return asyncio.run(_shoot(base, pages, out, chromium, push, env))
        finally:
            db.dispose()


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path, nargs="?", default=Path("docs/console"))
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args(argv)
    for path in take_screenshots(args.out, config=args.config):
        print(path)


if __name__ == "__main__":
    main()
