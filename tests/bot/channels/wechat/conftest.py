"""The real WeChat channel over the real service and database, posted to through httpx's ASGI
transport the way WeChat's servers post, with the WeChat API emulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import select
from starlette.applications import Starlette

from bot.channels.wechat import WechatChannel, WechatClient, WechatNotifier
from bot.ops.wechat_emulator import (
    WechatEmulator,
    aes_post,
    open_reply,
    plain_post,
    text_xml,
)
from bot.services.consultation import ConsultationService
from bot.services.outcomes import Notice
from bot.wiring import services_for
from knowledge.models import Entry
from storage.models import Consultation

TOKEN = "lawbot-test-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as in the console


@dataclass
class Wx:
    """A running channel, WeChat's side of it and the API emulator."""

    http: httpx.AsyncClient
    channel: WechatChannel
    emulator: WechatEmulator
    service: ConsultationService
    notices: list[Notice] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: iter(range(10_000_000_001, 10**12)))

    def msg_id(self) -> int:
        """A new MsgId."""
        return next(self._ids)

    async def post(self, xml: str, *, aes: bool = False) -> httpx.Response:
        """Post a message or event as WeChat does (plain or safe mode)."""
        if aes:
            params, body = aes_post(TOKEN, AES_KEY, self.emulator.app_id, xml)
        else:
            params, body = plain_post(TOKEN, xml)
        return await self.http.post("/wechat", params=params, content=body.encode())

    async def say(self, openid: str, text: str, *, msg_id: int | None = None) -> str | None:
        """Send a text; return the passive reply's content (None for an empty answer)."""
        response = await self.post(text_xml(openid, text, msg_id=msg_id or self.msg_id()))
        assert response.status_code == 200
        return content(response)

    def consultations(self) -> list[Consultation]:
        with self.service.db.session() as session:
            return list(session.exec(select(Consultation).order_by(Consultation.id)).all())


def content(response: httpx.Response) -> str | None:
    """The text of a passive reply, None for an empty 200."""
    fields = open_reply(response.text, token=TOKEN, aes_key=AES_KEY, app_id="wx0123456789abcdef")
    return None if fields is None else str(fields["Content"])


async def wait_for(condition: Callable[[], Any], seconds: float = 10.0) -> None:
    """Wait until `condition()` is true (background deliveries)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


MakeWx = Callable[..., Wx]


@contextmanager
def ledger_held(service: ConsultationService) -> Iterator[None]:
    """Hold the ledger's write lock from another connection: a really slow database, so the
    channel's answer cannot be ready in time however fast the machine is."""
    with service.db.engine.connect() as connection:
        if service.db.backend == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.begin()
            connection.execute(text("LOCK TABLE villager, consultation IN EXCLUSIVE MODE"))
        try:
            yield
        finally:
            connection.rollback()


@pytest.fixture(name="emulator")
def emulator_fixture() -> Iterator[WechatEmulator]:
    """The WeChat API emulator, serving."""
    emulator = WechatEmulator()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(name="make_wx")
async def make_wx_fixture(
    service: ConsultationService, emulator: WechatEmulator
) -> AsyncIterator[MakeWx]:
    """Build a channel (optionally with other `[wechat]` settings) and WeChat's client for it."""
    made: list[Wx] = []

    def make(**settings: object) -> Wx:
        values: dict[str, object] = {
            "token": TOKEN,
            "encoding_aes_key": AES_KEY,
            "app_id": emulator.app_id,
            "api_base_url": emulator.base_url,
            **settings,
        }
        wechat = service.config.wechat.model_copy(update=values)
        client = WechatClient(
            app_id=emulator.app_id, secret=emulator.secret, base_url=emulator.base_url
        )
        services = services_for(service)
        notifier = WechatNotifier(services, client, backoff=(0.01, 0.02), later_seconds=0.05)
        captured: list[Notice] = []

        async def notify(notices: tuple[Notice, ...]) -> None:
            captured.extend(notices)

        channel = WechatChannel(
            services, settings=wechat, client=client, notify=notify, notifier=notifier
        )
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=Starlette(routes=channel.routes)),
            base_url="http://lawbot.test",
        )
        wx = Wx(http, channel, emulator, service, captured)
        made.append(wx)
        return wx

    yield make
    for wx in made:
        await wx.http.aclose()
        await wx.channel.aclose()


@pytest.fixture(name="wx")
def wx_fixture(make_wx: MakeWx) -> Wx:
    return make_wx()


@pytest.fixture(name="answered")
def answered_fixture(service: ConsultationService) -> Entry:
    """An entry whose own question the matcher answers outright."""
    return next(
        e for e in service.kb.entries if service.matcher.match(e.question).decision == "answer"
    )
