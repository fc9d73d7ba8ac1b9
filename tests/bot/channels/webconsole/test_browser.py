"""The staff console in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright),
served the way `lawbot serve` serves it: signing in, the dashboard and its charts, a wrong
password, an advisor answering a villager, the ledger's filter and CSV export, a 1280-px and a
360-px screen, staff approving a draft the matcher then answers with, every route refusing an
advisor of another village and a visitor without an account, and a push sent now with its
confirmation. Every test also fails on a script error, a console error or a CSP violation."""

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
from sqlmodel import SQLModel, select
from starlette.routing import BaseRoute, Mount, Route

from bot import texts
from bot.channels.http import build_http_app
from bot.channels.http.keys import ENV_KEY
from bot.channels.web import SECRET_ENV
from bot.channels.webconsole.security import ENV_SECRET
from bot.cli.http import _channel_routes, _notifiers
from bot.config import Config
from bot.services import ledger as ledger_service
from bot.services import report as rp
from bot.services.campaigns import Buttons
from bot.services.consultation import ConsultationService
from bot.services.container import Services
from bot.services.outcomes import Notice, Sender
from bot.wiring import services_for
from storage.campaign_models import CampaignDelivery, DeliveryState
from storage.models import Consultation, Escalation
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
    pushed: list[tuple[str, str]] = field(default_factory=list)  # publicity pushes sent
    routes: list[BaseRoute] = field(default_factory=list)  # what `lawbot serve` mounts

    @property
    def service(self) -> ConsultationService:
        return self.services.consultation


@pytest.fixture(name="office")
def office_fixture(
    service: ConsultationService, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Office]:
    for name in (ENV_KEY, "LAWBOT_WECHAT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV_SECRET, "browser-test-console-secret-0123456789")
    monkeypatch.setenv(SECRET_ENV, "browser-test-web-secret-0123456789")
    knowledge = service.config.knowledge.model_copy(update={"drafts_dir": str(tmp_path / "kb")})
    service.config = service.config.model_copy(update={"knowledge": knowledge})
    service.drafts.config = service.config  # approved drafts are written under tmp_path
    services = services_for(service)
    office = Office("", services)
    router, contexts = _notifiers(services, None)

    async def telegram(notices: tuple[Notice, ...]) -> None:  # the Telegram bot, recorded
        office.telegram.extend(notices)

    async def push(chat_id: str, text: str, _buttons: Buttons) -> None:  # its push sender
        office.pushed.append((chat_id, text))

    router.by_channel["telegram"] = telegram
    routes = _channel_routes(services, router, contexts, {"telegram": push})
    office.routes = routes
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


# --- knowledge: a draft approved in the console answers villagers ----------------------------

NEW_QUESTION = "村里修路占了我家菜园子给不给补偿"
NEW_ANSWER = (
    "村里修路需要占用您承包或使用的菜地，应当依法和您协商并给予补偿。属于征收集体土地的，要依法"
    "支付土地补偿费、安置补助费以及地上附着物和青苗补偿费；只是村内道路调整用地的，应由村民会议"
    "讨论决定，并对您的损失给予合理补偿。协商不成可以找镇司法所调解，或向法院起诉。"
)
NEW_VARIANTS = [
    "修村道把我菜地占了有补偿吗",
    "村里铺水泥路占我家的自留地",
    "修路占地赔钱吗我家菜园没了",
    "村道拓宽占了菜地能要补偿不",
]


async def test_staff_approve_a_draft_and_the_matcher_answers_villagers_with_it(
    desk: Desk, office: Office
) -> None:
    service = office.service
    before = await asyncio.to_thread(service.matcher.match, NEW_QUESTION)
    assert before.decision != "answer" or before.entry is None or "draft" not in before.entry.id

    def write() -> int:
        draft = service.drafts.create(
            question=NEW_QUESTION, answer=NEW_ANSWER, topic_key="land", actor="test",
            short="修路占您的地，应当协商并依法补偿。", basis=["中华人民共和国土地管理法:48"],
        )  # fmt: skip
        assert draft.id is not None
        service.drafts.edit(draft.id, variants=NEW_VARIANTS)  # the KB asks for 4 phrasings
        return draft.id

    draft_id = await asyncio.to_thread(write)
    page = await desk.sign_in("chen")
    await page.click("header nav a:text-is('问答库')")
    card = page.locator(f"#draft-{draft_id}")
    await expect(card.locator(".ok")).to_be_visible()  # it meets the KB rules
    await card.locator("button:text-is('通过')").click()
    entry_id = f"land-draft-{draft_id}"
    await expect(page.locator(".flash")).to_contain_text(entry_id)
    await expect(page.locator(f"#draft-{draft_id}")).to_have_count(0)
    villager = Sender("telegram", "5301", "5301")

    def ask() -> tuple[str | None, str | None]:
        service.start(villager, "waihong")
        outcome = service.ask(villager, NEW_QUESTION)
        with service.db.session() as session:
            stored = session.get(Consultation, outcome.consultation_id)
            assert stored is not None
            return outcome.decision, stored.faq_id

    decision, stored_entry = await asyncio.to_thread(ask)
    assert (decision, stored_entry) == ("answer", entry_id)


# --- every route refuses those who may not see it -------------------------------------------

PUBLIC = {("/login", "GET"), ("/login", "POST"), ("/logout", "POST")}
VERBS = ("claim", "reply", "call", "office", "draft", "done", "approve", "reject", "edit",
         "send", "cancel", "disable", "new")  # fmt: skip
SHAOFAN_QUESTION = "邻居盖房占了我家宅基地怎么办"
WAIHONG_QUESTION = "老板欠了三个月工钱不给"


@dataclass(frozen=True)
class Foreign:
    """What an advisor of 外洪村 must never see or touch: 邵畈村's escalation and questions."""

    escalation_id: int
    draft_id: int
    markers: tuple[str, ...]


def _two_villages(service: ConsultationService) -> Foreign:
    own = Sender("telegram", "5401", "5401")
    service.start(own, "waihong")
    service.ask(own, WAIHONG_QUESTION)
    other = Sender("telegram", "5402", "5402")
    service.start(other, "shaofan")
    service.ask(other, SHAOFAN_QUESTION)
    escalated = service.kb.entries[3].question
    asked = service.ask(other, escalated)
    service.act(other, f"adv:{asked.consultation_id}")
    draft = service.drafts.create(
        question="越权测试草稿", answer="越权测试答复", topic_key="land", actor="test"
    )
    assert draft.id is not None
    return Foreign(_only_escalation(service), draft.id, (SHAOFAN, SHAOFAN_QUESTION, escalated))


def _console_routes(office: Office) -> list[Route]:
    """Every route of the console app `lawbot serve` mounts at /console (static files aside)."""
    [mount] = [r for r in office.routes if isinstance(r, Mount) and r.path == "/console"]
    found: list[Route] = []
    for route in mount.routes:
        if isinstance(route, Mount):
            assert route.path == "/static", f"a mounted app to classify: {route.path}"
            continue
        assert isinstance(route, Route), route
        found.append(route)
    return found


def _paths(route: Route, foreign: Foreign) -> list[str]:
    """The route's path with each parameter filled with every value worth trying."""
    values = {
        "id": [str(foreign.escalation_id), str(foreign.draft_id)],
        "kind": ["csv", "xlsx"],
        "verb": list(VERBS),
        "name": ["chen"],
    }
    paths = [route.path]
    for name in route.param_convertors:
        tries = values.get(name, [str(foreign.escalation_id), "shaofan"])
        pattern = re.compile(r"\{" + name + r"(:[a-z]+)?\}")
        paths = [pattern.sub(value, p) for p in paths for value in tries]
    return paths


def _snapshot(service: ConsultationService) -> dict[str, list[str]]:
    """Every row of every table, as text."""
    with service.db.engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(table.select()))
            for table in SQLModel.metadata.sorted_tables
        }


def _text_of(body: bytes, content_type: str) -> str:
    if "spreadsheetml" in content_type:
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(body))
        return " ".join(str(c) for s in book.worksheets for r in s.iter_rows(values_only=True)
                        for c in r if c is not None)  # fmt: skip
    return body.decode("utf-8-sig", errors="replace")


async def _refused_everywhere(
    desk: Desk, office: Office, foreign: Foreign, *, signed_in: bool
) -> tuple[int, int]:
    """Request every console route as the desk's person; return how many GETs and POSTs."""
    occ = office.services.campaigns.upcoming(limit=1)[0]
    page = await desk.open("/console/" if signed_in else "/console/login")
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value") or ""
    form = {
        "csrf": csrf, "text": "越权", "reason": "越权", "question": "越权测试问题",
        "answer": "越权测试答复" * 10, "topic": "land", "username": "intruder",
        "password": "a-long-password-1", "role": "admin", "villages": "shaofan",
        "village": "shaofan", "village_code": "shaofan", "push": occ.push_key,
        "day": occ.scheduled_for.isoformat(),
    }  # fmt: skip
    request = desk.context.request
    gets = posts = 0
    for route in _console_routes(office):
        for method in sorted(route.methods or ()):
            if method == "HEAD" or (route.path, method) in PUBLIC:
                continue
            for path in _paths(route, foreign):
                url = f"{office.url}/console{path}"
                where = f"{method} {path}"
                if method == "GET":
                    gets += 1
                    response = await request.get(
                        url, params={"village": "shaofan"}, max_redirects=0
                    )
                else:
                    posts += 1
                    before = await asyncio.to_thread(_snapshot, office.service)
                    response = await request.post(url, form=form, max_redirects=0)
                    after = await asyncio.to_thread(_snapshot, office.service)
                    assert after == before, f"{where} changed the database"
                if not signed_in:
                    assert response.status == 303, where
                    assert response.headers["location"].endswith("/console/login"), where
                    continue
                if response.status == 403:
                    continue
                if response.status == 303 or method == "POST":
                    # sent elsewhere (a page swept too), or refused with a note: the database
                    # was checked unchanged above
                    assert response.status == 303, f"{where}: {response.status}"
                    continue
                assert response.status == 200, f"{where}: {response.status}"
                content_type = response.headers.get("content-type", "")
                text = _text_of(await response.body(), content_type)
                if "text/html" in content_type:
                    shown = await desk.open(f"/console{path}?village=shaofan")
                    text += await shown.inner_text("body")
                    await shown.close()
                leaked = [m for m in foreign.markers if m in text]
                assert leaked == [], f"{where} shows {leaked}"
    assert office.pushed == []
    return gets, posts


async def test_every_console_route_refuses_an_advisor_of_another_village(
    desk: Desk, office: Office
) -> None:
    foreign = await asyncio.to_thread(_two_villages, office.service)
    page = await desk.sign_in("zhang")  # 外洪村's advisor
    await page.click("header nav a:text-is('台账')")
    await expect(page.locator("#ledger")).to_contain_text(WAIHONG_QUESTION)  # sees their own
    gets, posts = await _refused_everywhere(desk, office, foreign, signed_in=True)
    assert gets >= 8
    assert posts >= 20


async def test_every_console_route_sends_a_visitor_without_an_account_to_sign_in(
    desk: Desk, office: Office
) -> None:
    foreign = await asyncio.to_thread(_two_villages, office.service)
    gets, posts = await _refused_everywhere(desk, office, foreign, signed_in=False)
    assert gets >= 8
    assert posts >= 20


# --- campaigns: send now from the browser ----------------------------------------------------


@pytest.mark.xfail(
    reason="#17: the run row stays 'running' after all deliveries are sent (seen 2026-12-04 once the "
    "per-channel senders landed); under investigation",
    strict=False,
)
async def test_staff_send_a_push_now_after_confirming_and_see_the_deliveries(
    desk: Desk, office: Office
) -> None:
    services = office.services
    chats = ("5501", "5502", "5503")

    def subscribe() -> None:
        for n, chat in enumerate(chats):
            services.consultation.start(
                Sender("telegram", chat, chat), ("waihong", "shaofan")[n % 2]
            )

    await asyncio.to_thread(subscribe)
    occ = services.campaigns.upcoming(limit=1)[0]
    page = await desk.sign_in("chen")
    await page.click("header nav a:text-is('普法推送')")
    push = page.locator(
        f"article.push[data-push='{occ.push_key}'][data-day='{occ.scheduled_for}']"
    )
    await expect(push.locator(".size")).to_have_text("3")
    await push.locator("a.send").click()
    await expect(page).to_have_url(re.compile(r"/console/campaigns/confirm\?"))
    await expect(page.locator("#audience-size")).to_have_text("3")
    text = services.campaigns.render(occ)
    await expect(page.locator("#push-text")).to_have_text(text)
    assert office.pushed == [], "nothing goes out before the confirmation"
    await page.click("form.send-confirm button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/console/campaigns(#run-\d+)?$"))
    await expect(page.locator(".flash")).to_contain_text(occ.push_key)
    run = page.locator("#runs tbody tr").first
    await expect(run).to_have_class("done", timeout=30_000)  # the page reloads while sending
    cells = await _rows(page, "#runs")
    assert cells[0][0] == occ.push_key
    assert cells[0][4:7] == ["3", "0", "3"]  # targeted, still open, sent
    assert sorted(chat for chat, _ in office.pushed) == sorted(chats)
    assert {sent for _, sent in office.pushed} == {text}
    with services.consultation.db.session() as session:
        states = session.exec(select(CampaignDelivery.state)).all()
    assert sorted(states) == [DeliveryState.SENT] * 3
    await expect(push.locator(".badge")).to_have_text("已发完")
    await expect(push.locator("a.send")).to_have_count(0)
