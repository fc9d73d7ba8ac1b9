"""The console app over the real services and database, mounted at /console like `lawbot serve`."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from bot.channels.webconsole import build_console_app
from bot.services.consultation import ConsultationService
from bot.services.container import Services
from bot.services.outcomes import Notice
from bot.wiring import services_for

PASSWORD = "correct horse battery"


@dataclass
class Console:
    """A mounted console, its services and what it handed to the notifier."""

    app: Starlette
    services: Services
    notices: list[Notice] = field(default_factory=list)

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=("10.0.0.1", 5000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "every form carries a CSRF token"
    return match.group(1)


async def sign_in(
    client: httpx.AsyncClient, name: str, password: str = PASSWORD
) -> httpx.Response:
    form = await client.get("/console/login")
    return await client.post(
        "/console/login",
        data={"username": name, "password": password, "csrf": csrf_of(form.text)},
    )


def make_console(service: ConsultationService, **console_settings: object) -> Console:
    services = services_for(service)
    if console_settings:
        services.consultation.config = services.config.model_copy(
            update={"console": services.config.console.model_copy(update=console_settings)}
        )
    captured: list[Notice] = []

    async def notify(notices: tuple[Notice, ...]) -> None:
        captured.extend(notices)

    inner = build_console_app(services, notify=notify, secret="test-secret-" + "x" * 20)
    app = Starlette(routes=[Mount("/console", app=inner)])
    return Console(app, services, captured)


@pytest.fixture(name="console")
def console_fixture(service: ConsultationService) -> Console:
    console = make_console(service)
    accounts = console.services.accounts
    accounts.add("chen", "staff", PASSWORD)
    accounts.add("root", "admin", PASSWORD)
    accounts.add("zhang", "advisor", PASSWORD, villages=["waihong"])
    return console


@pytest.fixture(name="client")
async def client_fixture(console: Console) -> AsyncIterator[httpx.AsyncClient]:
    async with console.client() as client:
        yield client
