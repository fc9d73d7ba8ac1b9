"""Publicity pushes from the console over HTTP: the schedule with previews and audiences, send now
(confirmation, CSRF, staff only, audited, delivered in the background), cancel, progress while a
run is sending, and `lawbot serve`'s wiring delivering through the real Telegram Bot API client."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.routing import Mount

from bot import texts
from bot.channels.http import build_http_app
from bot.channels.http.keys import ENV_KEY
from bot.channels.web import SECRET_ENV
from bot.channels.webconsole import build_console_app
from bot.channels.webconsole.security import ENV_SECRET
from bot.cli.http import _channel_routes, _notifiers
from bot.config import Config
from bot.ops.telegram_emulator import Emulator
from bot.services.campaign_schedule import Occurrence
from bot.services.campaigns import Buttons, SendFunc
from bot.services.consultation import ConsultationService
from bot.services.container import Services
from bot.services.outcomes import Sender
from bot.wiring import services_for
from storage.campaign_models import CampaignDelivery, CampaignRun, DeliveryState, RunState
from tests.bot.channels.webconsole.conftest import PASSWORD, csrf_of, sign_in

VILLAGERS = (("6001", "waihong"), ("6002", "waihong"), ("6003", "shaofan"))
Pushed = list[tuple[str, str]]


class Office:
    """The console mounted at /console with a recording sender, and the people in it."""

    def __init__(self, services: Services, send: SendFunc | None) -> None:
        self.services = services
        self.console = build_console_app(services, send=send, secret="test-secret-" + "x" * 20)
        self.app = Starlette(routes=[Mount("/console", app=self.console)])

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=("10.0.0.1", 5000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    async def delivered(self) -> None:
        """Wait for the background deliveries the console started."""
        await asyncio.gather(*list(self.console.state.deliveries))


def _people(services: Services) -> None:
    accounts = services.accounts
    accounts.add("chen", "staff", PASSWORD)
    accounts.add("zhang", "advisor", PASSWORD, villages=["waihong"])
    for user_id, village in VILLAGERS:
        services.consultation.start(Sender("telegram", user_id, user_id), village)


@pytest.fixture(name="pushed")
def pushed_fixture() -> Pushed:
    return []


@pytest.fixture(name="office")
def office_fixture(service: ConsultationService, pushed: Pushed) -> Office:
    async def send(chat_id: str, text: str, _buttons: Buttons) -> None:
        pushed.append((chat_id, text))

    services = services_for(service)
    _people(services)
    return Office(services, send)


@pytest.fixture(name="staff")
async def staff_fixture(office: Office) -> AsyncIterator[httpx.AsyncClient]:
    async with office.client() as client:
        await sign_in(client, "chen")
        yield client


def _next_push(services: Services) -> Occurrence:
    upcoming = services.campaigns.upcoming(limit=1)
    assert upcoming, "the example config schedules pushes"
    return upcoming[0]


def _runs(services: Services) -> list[CampaignRun]:
    with services.consultation.db.session() as session:
        return list(session.exec(select(CampaignRun)).all())


def _delivery_states(services: Services) -> dict[str, str]:
    with services.consultation.db.session() as session:
        rows = session.exec(select(CampaignDelivery)).all()
        return {r.chat_id: str(r.state) for r in rows}


async def test_the_schedule_shows_each_push_s_text_and_audience_size(
    office: Office, staff: httpx.AsyncClient
) -> None:
    page = await staff.get("/console/campaigns")
    assert page.status_code == 200
    occ = _next_push(office.services)
    article = re.search(
        rf'<article class="push" data-push="{re.escape(occ.push_key)}" '
        rf'data-day="{occ.scheduled_for}">(.*?)</article>',
        page.text,
        re.S,
    )
    assert article, "the next push is listed"
    body = article.group(1)
    assert '<b class="size">3</b>' in body  # every subscribed Telegram villager
    rendered = office.services.campaigns.render(occ)
    assert html.escape(rendered.splitlines()[0]) in body
    assert "立即发送" in body
    forest = [o for o in office.services.campaigns.upcoming(limit=40) if o.villages]
    assert forest, "the forest-fire push goes to two villages only"
    assert office.services.campaigns.audience_size(forest[0].villages) == 0


async def test_send_now_confirms_then_delivers_once_in_the_background_and_is_audited(
    office: Office, staff: httpx.AsyncClient, pushed: Pushed
) -> None:
    occ = _next_push(office.services)
    where = {"push": occ.push_key, "day": occ.scheduled_for.isoformat()}
    confirm = await staff.get("/console/campaigns/confirm", params=where)
    assert confirm.status_code == 200
    assert '<b id="audience-size">3</b>' in confirm.text
    assert "确认发送给 3 人" in confirm.text
    assert _runs(office.services) == [], "the confirmation page sends nothing"
    forged = await staff.post("/console/campaigns/send", data=where | {"csrf": "guess"})
    assert forged.status_code == 403
    assert _runs(office.services) == []
    started = await staff.post(
        "/console/campaigns/send", data=where | {"csrf": csrf_of(confirm.text)}
    )
    assert started.status_code == 303
    await office.delivered()
    [run] = _runs(office.services)
    assert (run.state, run.targeted, run.actor) == (RunState.DONE, 3, "console:chen")
    assert sorted(chat for chat, _ in pushed) == ["6001", "6002", "6003"]
    assert {text for _, text in pushed} == {office.services.campaigns.render(occ)}
    assert set(_delivery_states(office.services).values()) == {DeliveryState.SENT}
    again = await staff.post(
        "/console/campaigns/send", data=where | {"csrf": csrf_of(confirm.text)}
    )
    assert again.status_code == 303
    await office.delivered()
    assert len(pushed) == 3, "a push is never sent twice"
    page = await staff.get("/console/campaigns")
    assert texts.CONSOLE_CAMPAIGN_HANDLED.format(key=occ.push_key, day=occ.scheduled_for) in (
        html.unescape(page.text)
    )
    row = re.search(rf'<tr id="run-{run.id}" class="done">(.*?)</tr>', page.text, re.S)
    assert row, "the run is listed with its results"
    assert "<td>3</td><td>0</td><td>3</td>" in row.group(1)  # targeted, open, sent
    audit = [(e.actor, e.action, e.target) for e in office.services.accounts.audit_log()]
    assert ("chen", "campaign.send", f"{occ.push_key}@{occ.scheduled_for}") in audit


async def test_while_a_run_is_sending_the_page_shows_progress_and_reloads_itself(
    service: ConsultationService,
) -> None:
    release = asyncio.Event()
    sent: Pushed = []

    async def slow_send(chat_id: str, text: str, _buttons: Buttons) -> None:
        await release.wait()
        sent.append((chat_id, text))

    services = services_for(service)
    _people(services)
    office = Office(services, slow_send)
    occ = _next_push(services)
    where = {"push": occ.push_key, "day": occ.scheduled_for.isoformat()}
    async with office.client() as staff:
        await sign_in(staff, "chen")
        confirm = await staff.get("/console/campaigns/confirm", params=where)
        await staff.post("/console/campaigns/send", data=where | {"csrf": csrf_of(confirm.text)})
        sending = await staff.get("/console/campaigns")
        assert sending.headers["refresh"] == "3"
        assert re.search(r'<tr id="run-\d+" class="running">', sending.text)
        assert '<progress value="0" max="3">' in sending.text
        release.set()
        await office.delivered()
        done = await staff.get("/console/campaigns")
    assert "refresh" not in done.headers
    assert '<progress value="3" max="3">' in done.text
    assert len(sent) == 3


async def test_cancelling_an_occurrence_records_it_and_it_is_never_sent(
    office: Office, staff: httpx.AsyncClient, pushed: Pushed
) -> None:
    occ = _next_push(office.services)
    where = {"push": occ.push_key, "day": occ.scheduled_for.isoformat()}
    page = await staff.get("/console/campaigns")
    cancelled = await staff.post(
        "/console/campaigns/cancel", data=where | {"csrf": csrf_of(page.text)}
    )
    assert cancelled.status_code == 303
    [run] = _runs(office.services)
    assert run.state == RunState.CANCELLED
    assert office.services.campaigns.is_open(occ) is False
    confirm = await staff.get("/console/campaigns/confirm", params=where)
    assert "确认发送给" not in confirm.text
    await staff.post("/console/campaigns/send", data=where | {"csrf": csrf_of(page.text)})
    await office.delivered()
    assert pushed == []
    audit = [(e.action, e.target) for e in office.services.accounts.audit_log()]
    assert ("campaign.cancel", f"{occ.push_key}@{occ.scheduled_for}") in audit


async def test_advisors_cannot_see_send_or_cancel_pushes(
    office: Office, staff: httpx.AsyncClient, pushed: Pushed
) -> None:
    occ = _next_push(office.services)
    where = {"push": occ.push_key, "day": occ.scheduled_for.isoformat()}
    async with office.client() as advisor:
        await sign_in(advisor, "zhang")
        token = csrf_of((await advisor.get("/console/")).text)
        assert "普法推送" not in (await advisor.get("/console/")).text
        assert (await advisor.get("/console/campaigns")).status_code == 403
        assert (await advisor.get("/console/campaigns/confirm", params=where)).status_code == 403
        for verb in ("send", "cancel"):
            refused = await advisor.post(
                f"/console/campaigns/{verb}", data=where | {"csrf": token}
            )
            assert refused.status_code == 403
    await office.delivered()
    assert _runs(office.services) == []
    assert pushed == []


async def test_without_a_sender_the_console_previews_but_does_not_send(
    service: ConsultationService,
) -> None:
    services = services_for(service)
    _people(services)
    office = Office(services, None)
    occ = _next_push(services)
    where = {"push": occ.push_key, "day": occ.scheduled_for.isoformat()}
    async with office.client() as staff:
        await sign_in(staff, "chen")
        page = await staff.get("/console/campaigns")
        assert "立即发送…" not in page.text
        confirm = await staff.get("/console/campaigns/confirm", params=where)
        assert texts.CONSOLE_CAMPAIGN_NO_SENDER in confirm.text
        await staff.post("/console/campaigns/send", data=where | {"csrf": csrf_of(page.text)})
    assert _runs(services) == []


async def test_serve_s_console_delivers_pushes_through_the_telegram_bot(
    service: ConsultationService, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (ENV_KEY, "LAWBOT_WECHAT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV_SECRET, "c" * 48)
    monkeypatch.setenv(SECRET_ENV, "w" * 48)
    emulator = Emulator(seed=5)
    emulator.start()
    try:
        telegram = config.telegram.model_copy(
            update={"base_url": emulator.base_url, "base_file_url": emulator.base_url}
        )
        service.config = config.model_copy(update={"telegram": telegram})
        services = services_for(service)
        _people(services)
        senders: dict[str, SendFunc] = {}
        router, contexts = _notifiers(services, "123456:TEST-TOKEN", senders)
        routes = _channel_routes(services, router, contexts, senders)
        app = build_http_app(services, notify=router, extra_routes=routes)
        [console] = [r.app for r in routes if isinstance(r, Mount) and r.path == "/console"]
        assert isinstance(console, Starlette)
        occ = _next_push(services)
        where = {"push": occ.push_key, "day": occ.scheduled_for.isoformat()}
        transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 5000))
        async with (
            contexts[0](app),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as staff,
        ):
            await sign_in(staff, "chen")
            confirm = await staff.get("/console/campaigns/confirm", params=where)
            await staff.post(
                "/console/campaigns/send", data=where | {"csrf": csrf_of(confirm.text)}
            )
            await asyncio.gather(*list(console.state.deliveries))
        for chat_id, _ in VILLAGERS:
            [text] = emulator.texts_to(int(chat_id))
            assert text == services.campaigns.render(occ)
        assert set(_delivery_states(services).values()) == {DeliveryState.SENT}
    finally:
        emulator.stop()
