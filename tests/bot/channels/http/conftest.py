"""The real HTTP app over the real service and database, driven through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette

from bot.channels.http import ApiKeys, build_http_app
from bot.channels.http.keys import ENV_KEY
from bot.services.consultation import ConsultationService
from bot.services.outcomes import Notice
from bot.wiring import services_for
from knowledge.models import Entry


@dataclass
class FakeMonotonic:
    """The rate limiter's clock, moved by hand."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Api:
    """A running app, its key, and what it handed to the notifier."""

    client: httpx.AsyncClient
    app: Starlette
    key: str
    keys: ApiKeys
    monotonic: FakeMonotonic
    notices: list[Notice] = field(default_factory=list)


MakeApi = Callable[..., Api]


@pytest.fixture(name="keys")
def keys_fixture(service: ConsultationService, monkeypatch: pytest.MonkeyPatch) -> ApiKeys:
    monkeypatch.delenv(ENV_KEY, raising=False)
    return ApiKeys(service.db, clock=service.clock)


@pytest.fixture(name="make_api")
async def make_api_fixture(service: ConsultationService, keys: ApiKeys) -> AsyncIterator[MakeApi]:
    """Build an app (optionally with other `[http]` settings) and a client holding a key."""
    clients: list[httpx.AsyncClient] = []
    key = keys.create("web")

    def make(**settings: object) -> Api:
        monotonic = FakeMonotonic()
        captured: list[Notice] = []

        async def notify(notices: tuple[Notice, ...]) -> None:
            captured.extend(notices)

        http = service.config.http.model_copy(update=settings) if settings else None
        app = build_http_app(
            services_for(service), settings=http, keys=keys, notify=notify, monotonic=monotonic
        )
        client = client_for(app, key)
        clients.append(client)
        return Api(client, app, key, keys, monotonic, captured)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture(name="api")
def api_fixture(make_api: MakeApi) -> Api:
    return make_api()


@pytest.fixture(name="answered")
def answered_fixture(service: ConsultationService) -> Entry:
    """An entry whose own question the matcher answers outright."""
    return next(
        e for e in service.kb.entries if service.matcher.match(e.question).decision == "answer"
    )


def client_for(app: Starlette, key: str | None = None) -> httpx.AsyncClient:
    """An httpx client calling the app in-process (with `key` as the bearer token)."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://lawbot.test", headers=headers
    )
