"""The staff console through HTTP: sign-in and its protections, roles, dashboard, ledger and its
exports, the escalation inbox answering a villager, drafts, accounts and the audit log."""

from __future__ import annotations

import csv
import html
import io

import httpx
from openpyxl import load_workbook
from sqlmodel import select

from bot import texts
from bot.services import report as rp
from bot.services.accounts import MAX_FAILURES
from bot.services.consultation import ConsultationService
from bot.services.outcomes import Sender
from storage.models import Escalation, FaqDraft
from tests.bot.channels.webconsole.conftest import (
    PASSWORD,
    Console,
    csrf_of,
    make_console,
    sign_in,
)

VILLAGER = Sender("telegram", "5101", "5101")
OTHER = Sender("telegram", "5102", "5102")
WAIHONG, SHAOFAN = "外洪村", "邵畈村"


def _ask_some(service: ConsultationService) -> None:
    service.start(VILLAGER, "waihong")
    service.ask(VILLAGER, "老板欠了三个月工钱不给 电话13812345678")
    service.start(OTHER, "shaofan")
    service.ask(OTHER, "邻居盖房占了我家宅基地怎么办")


async def test_without_a_session_the_console_sends_you_to_the_login_form(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/console/")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"
    form = await client.get("/console/login")
    assert form.status_code == 200
    for field in ('name="username"', 'name="password"', 'name="csrf"'):
        assert field in form.text
    assert form.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in form.headers["content-security-policy"]


async def test_signing_in_opens_the_dashboard_with_the_report_figures(
    console: Console, client: httpx.AsyncClient, service: ConsultationService
) -> None:
    _ask_some(service)
    response = await sign_in(client, "chen")
    assert response.status_code == 303
    assert response.headers["location"] == "/console"
    page = await client.get("/console/")
    assert page.status_code == 200
    start, end = rp.period_from_dates(None, None, service.config.town.tz, now=service.clock())
    report = rp.build_report(service.db, service.config, start, end, now=service.clock())
    figures = report.as_dict()
    assert f'<b id="questions">{html.escape(str(figures["questions"]["count"]))}</b>' in page.text
    assert "<svg" in page.text, "charts are drawn in the page"
    assert WAIHONG in page.text
    assert SHAOFAN in page.text


async def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_account(
    client: httpx.AsyncClient,
) -> None:
    wrong = await sign_in(client, "chen", "not the password")
    assert wrong.status_code == 401
    assert texts.CONSOLE_WRONG_PASSWORD in wrong.text
    for _ in range(MAX_FAILURES - 1):
        await sign_in(client, "chen", "still wrong!")
    locked = await sign_in(client, "chen", PASSWORD)
    assert locked.status_code == 401
    assert texts.CONSOLE_LOCKED in locked.text


async def test_a_form_without_its_csrf_token_is_refused(client: httpx.AsyncClient) -> None:
    await client.get("/console/login")
    refused = await client.post("/console/login", data={"username": "chen", "password": PASSWORD})
    assert refused.status_code == 403
    await sign_in(client, "chen")
    forged = await client.post("/console/escalations/1/claim", data={"csrf": "guess"})
    assert forged.status_code == 403


async def test_sign_in_attempts_are_throttled_per_address(service: ConsultationService) -> None:
    console = make_console(service, logins_per_minute=3)
    console.services.accounts.add("chen", "staff", PASSWORD)
    async with console.client() as client:
        codes = [(await sign_in(client, "chen", "wrong password")).status_code for _ in range(4)]
    assert codes[:3] == [401, 401, 401]
    assert codes[3] == 429


async def test_an_expired_session_must_sign_in_again(service: ConsultationService) -> None:
    console = make_console(service, session_hours=0.00001)
    console.services.accounts.add("chen", "staff", PASSWORD)
    async with console.client() as client:
        await sign_in(client, "chen")
        import asyncio

        await asyncio.sleep(0.1)
        response = await client.get("/console/")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"


async def test_an_advisor_sees_only_their_villages_and_staff_see_the_town(
    console: Console, service: ConsultationService
) -> None:
    _ask_some(service)
    async with console.client() as advisor:
        await sign_in(advisor, "zhang")
        mine = await advisor.get("/console/ledger")
        assert WAIHONG in mine.text
        assert SHAOFAN not in mine.text
        assert "13812345678" not in mine.text, "numbers are masked as in the exports"
        assert (await advisor.get("/console/drafts")).status_code == 403
        assert (await advisor.get("/console/users")).status_code == 403
    async with console.client() as staff:
        await sign_in(staff, "chen")
        town = await staff.get("/console/ledger")
        assert WAIHONG in town.text
        assert SHAOFAN in town.text
        assert (await staff.get("/console/users")).status_code == 403


async def test_the_exports_hold_exactly_the_filtered_lines(
    console: Console, client: httpx.AsyncClient, service: ConsultationService
) -> None:
    _ask_some(service)
    await sign_in(client, "chen")
    shown = await client.get("/console/ledger", params={"village": "waihong"})
    total = int(shown.text.split('<b id="total">')[1].split("<")[0])
    exported = await client.get("/console/ledger.csv", params={"village": "waihong"})
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert len(rows) - 1 == total > 0
    assert {r[2] for r in rows[1:]} == {WAIHONG}
    assert all("13812345678" not in cell for r in rows for cell in r)
    book = await client.get("/console/ledger.xlsx", params={"village": "waihong"})
    sheet = load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    assert sheet.max_row - 1 == total


async def test_an_advisor_answers_from_the_web_and_the_answer_reaches_the_villager(
    console: Console, client: httpx.AsyncClient, service: ConsultationService
) -> None:
    service.start(VILLAGER, "waihong")
    asked = service.ask(VILLAGER, service.kb.entries[3].question)
    service.act(VILLAGER, f"adv:{asked.consultation_id}")
    with service.db.session() as session:
        escalation = session.exec(select(Escalation)).one()
    await sign_in(client, "zhang")
    inbox = await client.get("/console/escalations")
    assert f'id="esc-{escalation.id}"' in inbox.text
    assert "待答复" in inbox.text
    sent = await client.post(
        f"/console/escalations/{escalation.id}/reply",
        data={"text": "请带上欠条来村委会找我", "csrf": csrf_of(inbox.text)},
    )
    assert sent.status_code == 303
    to_villager = [n for n in console.notices if n.user_id == VILLAGER.chat_id]
    assert to_villager
    assert "欠条" in to_villager[0].reply.text
    async with console.client() as admin:
        await sign_in(admin, "root")
        log = await admin.get("/console/audit")
    assert "escalation.reply" in log.text
    assert "zhang" in log.text


async def test_staff_turn_an_unanswered_question_into_a_draft_and_see_its_problems(
    console: Console, client: httpx.AsyncClient, service: ConsultationService
) -> None:
    await sign_in(client, "chen")
    page = await client.get("/console/drafts")
    made = await client.post(
        "/console/drafts/new",
        data={
            "csrf": csrf_of(page.text),
            "question": "村里的晒谷场被人占了怎么办",
            "answer": "太短",
            "topic": "land",
            "basis": "中华人民共和国民法典:236",
        },
    )
    assert made.status_code == 303
    with service.db.session() as session:
        draft = session.exec(select(FaqDraft)).one()
    page = await client.get("/console/drafts")
    assert f'id="draft-{draft.id}"' in page.text
    assert 'class="error"' in page.text, "the KB rules are checked in the page"
    refused = await client.post(
        f"/console/drafts/{draft.id}/approve", data={"csrf": csrf_of(page.text)}
    )
    assert refused.status_code == 303
    with service.db.session() as session:
        assert session.get(FaqDraft, draft.id).state == "draft"  # type: ignore[union-attr]


async def test_admins_add_and_disable_accounts_and_it_is_audited(
    console: Console, client: httpx.AsyncClient
) -> None:
    await sign_in(client, "root")
    page = await client.get("/console/users")
    added = await client.post(
        "/console/users",
        data={
            "csrf": csrf_of(page.text), "username": "li", "role": "advisor",
            "villages": "waihong", "password": "another long one",
        },
    )  # fmt: skip
    assert added.status_code == 303
    assert console.services.accounts.identity("li") is not None
    await client.post("/console/users/li/disable", data={"csrf": csrf_of(page.text)})
    assert console.services.accounts.identity("li") is None
    entries = [(e.action, e.target) for e in console.services.accounts.audit_log()]
    assert ("user.add", "li") in entries
    assert ("user.disable", "li") in entries
