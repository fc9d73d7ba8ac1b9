"""The staff console in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright),
served the way `lawbot serve` serves it: signing in, the dashboard and its charts, a wrong
password, an advisor answering a villager, the ledger's filter and CSV export, a 1280-px and a
360-px screen. Every test also fails on a script error, a console error or a CSP violation."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Error,
    Page,
    ViewportSize,
    async_playwright,
    expect,
)
from sqlmodel import select

from bot import texts
from bot.channels.http import build_http_app
from bot.channels.http.keys import ENV_KEY
from bot.channels.web import SECRET_ENV
from bot.channels.webconsole.security import ENV_SECRET
from bot.cli.http import _channel_routes, _notifiers
from bot.config import Config
from bot.services import ledger as ledger_service
from bot.services import report as rp
from bot.services.consultation import ConsultationService
from bot.services.container import Services
from bot.services.outcomes import Notice, Sender
from bot.wiring import services_for
from storage.models import Escalation
from tests.bot.channels.web.live import serve
from tests.bot.channels.webconsole.conftest import PASSWORD
from tests.conftest import skip_or_fail

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=360, height=740)
WAIT_MS = 10_000
# A CSP violation is not always a console message: report every one as a console error.
WATCH_CSP = """document.addEventListener("securitypolicyviolation", (e) =>
  console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));"""
VILLAGER = Sender("telegram", "5101", "5101")
WAIHONG, SHAOFAN = "外洪村", "邵畈村"


@dataclass
class Office:
    """`lawbot serve` on 127.0.0.1: its services and what its router pushed to Telegram."""

    url: str
    services: Services
    telegram: list[Notice] = field(default_factory=list)

    @property
    def service(self) -> ConsultationService:
        return self.services.consultation


@pytest.fixture(name="office")
def office_fixture(
    service: ConsultationService, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Office]:
    for name in (ENV_KEY, "LAWBOT_WECHAT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV_SECRET, "browser-test-console-secret-0123456789")
    monkeypatch.setenv(SECRET_ENV, "browser-test-web-secret-0123456789")
    services = services_for(service)
    office = Office("", services)
    router, contexts = _notifiers(services, None)

    async def telegram(notices: tuple[Notice, ...]) -> None:  # the Telegram bot, recorded
        office.telegram.extend(notices)

    router.by_channel["telegram"] = telegram
    routes = _channel_routes(services, router, contexts)
    app = build_http_app(services, notify=router, extra_routes=routes)
    accounts = services.accounts
    accounts.add("chen", "staff", PASSWORD)
    accounts.add("root", "admin", PASSWORD)
    accounts.add("zhang", "advisor", PASSWORD, villages=["waihong"])
    with serve(app) as url:
        office.url = url
        yield office


@dataclass
class Desk:
    """A browser context (one person's cookies) and what went wrong in it."""

    context: BrowserContext
    url: str
    errors: list[str] = field(default_factory=list)

    async def open(self, path: str = "/console", *, fetched: str = "") -> Page:
        """A new tab on `path` (waiting until it has fetched `fetched`), reporting its errors."""
        page = await self.context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"console: {msg.text} {msg.location}")
                if msg.type == "error"
                else None
            ),
        )
        if fetched:
            async with page.expect_response(lambda r: r.url.endswith(fetched)):
                await page.goto(f"{self.url}{path}")
        else:
            await page.goto(f"{self.url}{path}")
        return page

    async def sign_in(self, name: str, password: str = PASSWORD) -> Page:
        """Open /console, land on the sign-in form and submit it."""
        page = await self.open()
        await expect(page).to_have_url(f"{self.url}/console/login")
        await page.fill("input[name=username]", name)
        await page.fill("input[name=password]", password)
        await page.click("form.login button[type=submit]")
        return page


@pytest.fixture(name="chromium")
def chromium_fixture() -> str:
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(name="browser")
async def browser_fixture(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=ARGS)
        yield browser
        await browser.close()


@pytest.fixture(name="desks")
async def desks_fixture(browser: Browser, office: Office) -> AsyncIterator[list[Desk]]:
    """The open desks (add one with `_desk`); none may end with an error. Depending on `office`
    closes the browser contexts before the server stops."""
    desks: list[Desk] = []
    yield desks
    for desk in desks:
        await desk.context.close()
    assert [e for desk in desks for e in desk.errors] == []


@pytest.fixture(name="desk")
async def desk_fixture(browser: Browser, office: Office, desks: list[Desk]) -> Desk:
    return await _desk(browser, office, desks)


async def _desk(
    browser: Browser, office: Office, desks: list[Desk], viewport: ViewportSize = DESKTOP
) -> Desk:
    context = await browser.new_context(viewport=viewport, locale="zh-CN", accept_downloads=True)
    await context.add_init_script(WATCH_CSP)
    desk = Desk(context, office.url)
    desks.append(desk)
    return desk


def _ask_some(service: ConsultationService) -> None:
    """Seven questions from three villagers in each of two villages (no cell is suppressed)."""
    asked = {
        "waihong": [
            "老板欠了三个月工钱不给 电话13812345678",
            "邻居的狗咬伤了我家孩子",
            "离婚后孩子归谁",
        ],
        "shaofan": ["邻居盖房占了我家宅基地怎么办", "儿子不给老人赡养费", "工伤了老板不管"],
    }
    for n, (code, questions) in enumerate(asked.items()):
        for i, text in enumerate(questions):
            villager = Sender("telegram", f"52{n}{i}", f"52{n}{i}")
            service.start(villager, code)
            service.ask(villager, text)
    long_line = "土地承包合同到期了村里要收回" + "地" * 120  # must not widen the page
    service.ask(Sender("telegram", "5200", "5200"), long_line)


def _only_escalation(service: ConsultationService) -> int:
    with service.db.session() as session:
        escalation_id = session.exec(select(Escalation)).one().id
    assert escalation_id is not None
    return escalation_id


async def _rows(page: Page, table: str) -> list[list[str]]:
    rows: list[list[str]] = await page.eval_on_selector_all(
        f"{table} tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))",
    )
    return rows


async def test_signing_in_opens_the_dashboard_with_its_figures_and_charts(
    desk: Desk, office: Office
) -> None:
    await asyncio.to_thread(_ask_some, office.service)
    page = await desk.sign_in("chen")
    await expect(page).to_have_url(f"{office.url}/console/")
    await expect(page.locator("header .who")).to_contain_text("chen")
    service = office.service
    start, end = rp.period_from_dates(None, None, service.config.town.tz, now=service.clock())
    figures = rp.build_report(service.db, service.config, start, end, now=service.clock())
    count = figures.as_dict()["questions"]["count"]
    assert count == 7
    await expect(page.locator("#questions")).to_have_text(str(count))
    charts = page.locator(".charts figure svg.chart")
    await expect(charts).to_have_count(4)
    village_chart = page.locator("figure", has_text="分村").locator("svg.chart")
    await expect(village_chart).to_be_visible()
    box = await village_chart.bounding_box()
    assert box is not None
    assert box["width"] > 200
    assert box["height"] > 20
    await expect(village_chart.locator("rect")).to_have_count(2)  # 外洪村 and 邵畈村
    by_village = {row[0]: row[1] for row in await _rows(page, "#by-village")}
    assert by_village[WAIHONG] == "4"
    assert by_village[SHAOFAN] == "3"


async def test_a_wrong_password_shows_the_chinese_error_and_stays_on_the_form(
    desk: Desk, office: Office
) -> None:
    page = await desk.sign_in("chen", "not the password")
    await expect(page.locator(".error[role=alert]")).to_have_text(texts.CONSOLE_WRONG_PASSWORD)
    await expect(page.locator("input[name=password]")).to_be_visible()
    await expect(page.locator("header nav")).to_have_count(0)
    # The refused form answers 401 on purpose; Chromium logs that status, nothing else is allowed.
    refused = f"status of 401 (Unauthorized) {{'url': '{office.url}/console/login'"
    assert [e for e in desk.errors if refused in e] != []
    desk.errors[:] = [e for e in desk.errors if refused not in e]
    again = await desk.open("/console/")
    await expect(again).to_have_url(f"{office.url}/console/login")


async def test_an_advisor_answers_in_the_browser_and_the_villager_receives_it(
    browser: Browser, desk: Desk, desks: list[Desk], office: Office
) -> None:
    service = office.service

    def escalate() -> int:
        service.start(VILLAGER, "waihong")
        asked = service.ask(VILLAGER, service.kb.entries[3].question)
        service.act(VILLAGER, f"adv:{asked.consultation_id}")
        return _only_escalation(service)

    escalation_id = await asyncio.to_thread(escalate)
    page = await desk.sign_in("zhang")
    await page.click("header nav a:text-is('转办咨询')")
    await expect(page).to_have_url(f"{office.url}/console/escalations")
    card = page.locator(f"#esc-{escalation_id}")
    await expect(card.locator(".badge")).to_contain_text("待答复")
    await card.locator("textarea[name=text]").fill("请带上欠条来村委会找我")
    await card.locator("form.reply button[type=submit]").click()
    await expect(page.locator(".flash")).to_be_visible()
    to_villager = [n for n in office.telegram if n.user_id == VILLAGER.user_id]
    assert [n.reply.text for n in to_villager if "欠条" in n.reply.text] != []
    await expect(page.locator(f"#esc-{escalation_id} .badge").first).to_contain_text("已答复")
    admin = await _desk(browser, office, desks)
    log = await admin.sign_in("root")
    await log.click("header nav a:text-is('操作记录')")
    await expect(log.locator("#audit tbody tr", has_text="escalation.reply")).to_have_count(1)
    replies = [r[1:] for r in await _rows(log, "#audit") if r[2] == "escalation.reply"]
    assert replies == [["zhang", "escalation.reply", str(escalation_id), "请带上欠条来村委会找我"]]


async def test_a_web_chat_villager_sees_the_advisor_s_web_answer_arrive_in_the_open_page(
    browser: Browser, desk: Desk, desks: list[Desk], office: Office, config: Config
) -> None:
    phone = await _desk(browser, office, desks, PHONE)
    chat = await phone.open("/chat?v=waihong", fetched="/chat/api/messages")
    await chat.fill("#text", "转人工")
    await chat.click("#send")
    village = config.village("waihong")
    assert village is not None
    await expect(chat.locator("#log li.bot p", has_text=village.advisor_name)).to_have_count(
        1, timeout=WAIT_MS
    )
    escalation_id = await asyncio.to_thread(_only_escalation, office.service)
    page = await desk.sign_in("zhang")
    await page.goto(f"{office.url}/console/escalations")
    card = page.locator(f"#esc-{escalation_id}")
    await card.locator("textarea[name=text]").fill("请把承包合同带到村委会。")
    await card.locator("form.reply button[type=submit]").click()
    await expect(page.locator(".flash")).to_be_visible()
    answer = chat.locator("#log li.bot p", has_text="请把承包合同带到村委会。")
    await expect(answer).to_have_count(1, timeout=WAIT_MS)  # pushed by the page's stream
    # The router pushed the advisor's card to Telegram; the web villager fetches their answer.
    assert [n.user_id for n in office.telegram] == [str(village.advisor_id)]
    assert office.telegram[0].escalation_id == escalation_id


async def test_the_csp_watch_reports_a_blocked_inline_script(desk: Desk) -> None:
    page = await desk.open()
    with pytest.raises(Error, match="Content Security Policy"):
        await page.add_script_tag(content="document.title = 'injected'")
    await expect(page).not_to_have_title("injected")
    assert [e for e in desk.errors if "CSP violation: script-src-elem" in e] != []
    desk.errors.clear()


async def test_the_ledger_filters_by_village_and_the_csv_holds_exactly_the_shown_rows(
    desk: Desk, office: Office
) -> None:
    await asyncio.to_thread(_ask_some, office.service)
    page = await desk.sign_in("chen")
    await page.click("header nav a:text-is('台账')")
    await expect(page.locator("#total")).to_have_text("7")
    await page.select_option("select[name=village]", "waihong")
    await page.click("form.filters button[type=submit]")
    await expect(page).to_have_url(re.compile(r"[?&]village=waihong(&|$)"))
    await expect(page.locator("#total")).to_have_text("4")
    shown = await _rows(page, "#ledger")
    assert len(shown) == 4
    assert {row[2] for row in shown} == {WAIHONG}
    assert all("13812345678" not in cell for row in shown for cell in row)
    async with page.expect_download() as info:
        await page.click("a:text-is('CSV')")
    download = await info.value
    assert download.suggested_filename.endswith(".csv")
    saved = await download.path()
    text = await asyncio.to_thread(saved.read_text, encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(ledger_service.HEADERS)
    assert rows[1:] == shown


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "360px"])
async def test_the_dashboard_and_ledger_have_no_horizontal_scroll(
    browser: Browser, desks: list[Desk], office: Office, viewport: ViewportSize
) -> None:
    await asyncio.to_thread(_ask_some, office.service)
    desk = await _desk(browser, office, desks, viewport)
    page = await desk.sign_in("chen")
    await expect(page.locator("#questions")).to_have_text("7")
    widths = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    for path in ("/console/", "/console/ledger"):
        await page.goto(f"{office.url}{path}")
        await expect(page.locator("main h1")).to_be_visible()
        scroll, client = await page.evaluate(widths)
        assert scroll <= client == viewport["width"], path
    table = page.locator("#ledger")
    await expect(table.locator("tbody tr")).to_have_count(7)
    overflow, right = await table.evaluate(
        "t => [getComputedStyle(t.parentElement).overflowX,"
        " t.parentElement.getBoundingClientRect().right]"
    )
    assert overflow == "auto"  # a table wider than the screen scrolls in its own box
    assert right <= viewport["width"]
