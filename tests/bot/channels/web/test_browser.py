"""The web chat in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright):
asking, tapping a suggestion, asking for a person, an advisor's answer arriving live, reopening,
big text, a 360-px screen, and the page's weight. Every test also fails on a script or CSP error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Response,
    async_playwright,
    expect,
)
from sqlmodel import select

from bot import texts
from bot.config import Config
from knowledge.models import Entry
from storage.models import Villager
from tests.bot.channels.web.conftest import Chat, advisor
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
PHONE = {"width": 360, "height": 740}
WAIT_MS = 10_000


@dataclass
class Phone:
    """A browser context (one phone: its cookies and localStorage) and what went wrong in it."""

    context: BrowserContext
    url: str
    errors: list[str] = field(default_factory=list)

    async def open(self, query: str = "?v=waihong") -> Page:
        """Open the chat page and wait until it has fetched the missed replies."""
        page = await self.context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"console: {msg.text}") if msg.type == "error" else None
            ),
        )
        async with page.expect_response(lambda r: r.url.endswith("/chat/api/messages")):
            await page.goto(f"{self.url}/chat{query}")
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


@pytest.fixture(name="phone")
async def phone_fixture(browser: Browser, chat: Chat) -> AsyncIterator[Phone]:
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    phone = Phone(context, chat.url)
    yield phone
    await context.close()
    assert phone.errors == []


async def _ask(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.click("#send")


async def test_a_question_typed_on_the_page_is_answered(phone: Phone, answered: Entry) -> None:
    page = await phone.open()
    await _ask(page, answered.question)
    await expect(page.locator("#log li.bot p", has_text=answered.answer[:20])).to_have_count(
        1, timeout=WAIT_MS
    )
    await expect(page.locator("#log li.me p")).to_have_text([answered.question])
    await expect(page.locator("#text")).to_have_value("")
    village = texts.VILLAGE_SET.format(village="外洪村")
    await expect(page.locator("#log li.bot p", has_text=village)).to_have_count(1)
    helpful = page.locator("#log .choice", has_text=texts.BUTTON_HELPFUL)
    await expect(helpful).to_have_count(1)


async def test_tapping_a_suggestion_shows_its_answer(phone: Phone, chat: Chat, vague: str) -> None:
    first = chat.service.matcher.match(vague).candidates[0].entry
    page = await phone.open()
    await _ask(page, vague)
    suggestion = page.locator("#log .choice[data-action$=':0']")
    await expect(suggestion).to_have_count(1, timeout=WAIT_MS)
    await expect(suggestion).to_contain_text(first.question[:10])
    await suggestion.click()
    await expect(page.locator("#log li.bot p", has_text=first.answer[:20])).to_have_count(
        1, timeout=WAIT_MS
    )
    await expect(page.locator("#log li.me p").last).to_contain_text(first.question[:10])


async def test_asking_for_a_person_from_the_menu_escalates(
    phone: Phone, chat: Chat, config: Config
) -> None:
    village = config.village("waihong")
    assert village is not None
    page = await phone.open()
    await page.click(".menu summary")
    await page.click(".menu .link[data-send='找法律顾问']")
    await expect(page.locator("#log li.bot p", has_text=village.advisor_name)).to_have_count(
        1, timeout=WAIT_MS
    )
    assert [n.escalation_id for n in chat.notices] == [chat.escalation_id()]


async def test_an_advisor_answer_appears_in_the_open_page(
    phone: Phone, chat: Chat, config: Config
) -> None:
    page = await phone.open()
    await _ask(page, "转人工")
    await expect(page.locator("#log li.bot")).to_have_count(3, timeout=WAIT_MS)
    await page.wait_for_timeout(300)  # the page's stream is open
    await asyncio.to_thread(
        chat.service.advisor_command,
        advisor(config),
        "reply",
        f"{chat.escalation_id()} 请带上承包合同来村委会。",
    )
    answer = page.locator("#log li.bot", has_text="请带上承包合同来村委会。")
    await expect(answer).to_have_count(1, timeout=WAIT_MS)
    await expect(answer.locator(".choice")).to_have_count(3)  # 满意 / 不满意 / 新问题


async def test_a_reopened_page_keeps_the_transcript_and_fetches_what_came_meanwhile(
    phone: Phone, chat: Chat, config: Config, answered: Entry
) -> None:
    page = await phone.open()
    await _ask(page, answered.question)
    await expect(page.locator("#log li.bot")).to_have_count(3, timeout=WAIT_MS)
    await _ask(page, "转人工")
    await expect(page.locator("#log li.bot")).to_have_count(4, timeout=WAIT_MS)
    await page.close()
    await asyncio.to_thread(
        chat.service.advisor_command, advisor(config), "reply", f"{chat.escalation_id()} 明天来。"
    )
    again = await phone.open()
    await expect(again.locator("#log li.me p")).to_have_text([answered.question, "转人工"])
    await expect(again.locator("#log li.bot p", has_text="明天来。")).to_have_count(
        1, timeout=WAIT_MS
    )
    await expect(again.locator("#log li.bot")).to_have_count(5)


async def test_the_big_text_toggle_enlarges_the_text_and_is_remembered(phone: Phone) -> None:
    page = await phone.open()
    size = "() => parseFloat(getComputedStyle(document.body).fontSize)"
    normal = await page.evaluate(size)
    await page.click("#big")
    await expect(page.locator("html")).to_have_class("big")
    assert await page.evaluate(size) > normal * 1.25
    await page.reload()
    await expect(page.locator("#big")).to_have_attribute("aria-pressed", "true")
    assert await page.evaluate(size) > normal * 1.25
    await page.click("#big")
    await expect(page.locator("html")).not_to_have_class("big")


async def test_a_360_px_screen_has_no_horizontal_scroll(phone: Phone, answered: Entry) -> None:
    page = await phone.open()
    await _ask(page, answered.question + "x" * 80)  # an unbroken run must wrap too
    await expect(page.locator("#log .choice").first).to_be_visible(timeout=WAIT_MS)
    await page.click(".menu summary")
    for big in (False, True):
        if big:
            await page.click("#big")
        widths = await page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1] == PHONE["width"]


async def test_the_page_weighs_under_100_kb_and_loads_nothing_from_elsewhere(
    phone: Phone,
) -> None:
    sizes: dict[str, int] = {}
    page = await phone.context.new_page()

    async def record(response: Response) -> None:
        if response.request.resource_type != "eventsource":
            sizes[response.url] = len(await response.body())

    page.on("response", record)
    async with page.expect_response(lambda r: r.url.endswith("/chat/api/messages")):
        await page.goto(f"{phone.url}/chat")
    await page.wait_for_load_state("networkidle")
    assert all(url.startswith(phone.url) for url in sizes)
    kinds = {url.rsplit("/", 1)[-1].split("?")[0] for url in sizes}
    assert {"chat", "chat.css", "chat.js", "messages"} <= kinds
    assert sum(sizes.values()) <= 100 * 1024


async def test_an_empty_message_shows_a_chinese_notice_and_sends_nothing(
    phone: Phone, chat: Chat
) -> None:
    page = await phone.open()
    await _ask(page, "   ")
    await expect(page.locator("#notice")).to_have_text(texts.WEB_ERRORS["empty"])
    await _ask(page, "字" * 2001)
    await expect(page.locator("#notice")).to_have_text(
        texts.WEB_ERRORS["too_long"].format(limit=2000)
    )
    await expect(page.locator("#log li")).to_have_count(0)
    with chat.service.db.session() as session:
        assert session.exec(select(Villager)).all() == []


async def test_deleting_my_data_from_the_menu_clears_the_phone_s_transcript_too(
    phone: Phone, answered: Entry
) -> None:
    page = await phone.open()
    await _ask(page, answered.question)
    await expect(page.locator("#log li.bot")).to_have_count(3, timeout=WAIT_MS)
    await page.click(".menu summary")
    await page.click(".menu .link[data-send='/forget']")
    await expect(page.locator("#log li.me p").last).to_have_text("删除我的信息", timeout=WAIT_MS)
    await page.click(f"#log .choice:has-text('{texts.BUTTON_FORGET_YES}')")
    kept = [texts.FORGOTTEN.format(count=1), texts.WEB_CLEARED]
    await expect(page.locator("#log li p")).to_have_text(kept, timeout=WAIT_MS)
    await page.reload()
    await expect(page.locator("#log li p")).to_have_text(kept)
