"""The web chat served by the real HTTP app on a real uvicorn (127.0.0.1), over the real services."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlmodel import select

from bot.channels.http import ApiKeys, build_http_app
from bot.channels.http.keys import ENV_KEY
from bot.channels.http.sse import StreamSettings
from bot.channels.web import web_routes
from bot.config import Config
from bot.services.consultation import ConsultationService
from bot.services.outcomes import Notice, Sender
from bot.wiring import services_for
from knowledge.models import Entry
from storage.models import Escalation
from tests.bot.channels.web.live import serve

SECRET = b"test-secret-of-the-web-chat-0123456789"
FAST = StreamSettings(poll_seconds=0.1, keepalive_seconds=1.0, max_seconds=60)
_CSRF = re.compile(r'data-csrf="([^"]+)"')


@dataclass
class Chat:
    """A running web chat, its service, and the notices it handed to the notifier."""

    url: str
    service: ConsultationService
    notices: list[Notice] = field(default_factory=list)

    def client(self) -> httpx.AsyncClient:
        """A client with its own cookie jar (one phone)."""
        return httpx.AsyncClient(base_url=self.url, timeout=10)

    def escalation_id(self) -> int:
        """The id of the only escalation."""
        with self.service.db.session() as session:
            escalation = session.exec(select(Escalation)).one()
        assert escalation.id is not None
        return escalation.id


def make_chat(service: ConsultationService, **http: object) -> Iterator[Chat]:
    """Serve the HTTP app with the web chat mounted (optionally other `[http]` settings)."""
    chat = Chat("", service)

    async def notify(notices: tuple[Notice, ...]) -> None:
        chat.notices.extend(notices)

    services = services_for(service)
    settings = service.config.http.model_copy(update=http)
    routes = web_routes(services, notify=notify, settings=settings, secret=SECRET, stream=FAST)
    app = build_http_app(
        services, settings=settings, keys=ApiKeys(service.db, env_key=None), extra_routes=routes
    )
    with serve(app) as url:
        chat.url = url
        yield chat


@pytest.fixture(name="chat")
def chat_fixture(service: ConsultationService, monkeypatch: pytest.MonkeyPatch) -> Iterator[Chat]:
    monkeypatch.delenv(ENV_KEY, raising=False)
    yield from make_chat(service)


async def open_page(client: httpx.AsyncClient, query: str = "") -> str:
    """Load the page (which sets the device cookie) and return its CSRF token."""
    page = await client.get(f"/chat{query}")
    assert page.status_code == 200
    found = _CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def advisor(config: Config, code: str = "waihong") -> Sender:
    """The advisor of a village, as the service sees them."""
    village = config.village(code)
    assert village is not None
    assert village.advisor_id is not None
    return Sender("telegram", str(village.advisor_id), str(village.advisor_id))


@pytest.fixture(name="answered")
def answered_fixture(service: ConsultationService) -> Entry:
    """An entry whose own question the matcher answers outright."""
    return next(
        e for e in service.kb.entries if service.matcher.match(e.question).decision == "answer"
    )


@pytest.fixture(name="vague")
def vague_fixture(service: ConsultationService) -> str:
    """A question the matcher answers with suggestions to pick from."""
    return next(
        q
        for q in ("邻居的事", "土地的问题", "钱的事情怎么办", "房子的问题", "孩子的事")
        if service.matcher.match(q).decision == "suggest"
    )
