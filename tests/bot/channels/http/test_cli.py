"""`lawbot api-key create|revoke|list` and `lawbot serve`'s checks, through typer's CliRunner;
and the Telegram notifier `serve` uses, against the Bot API emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from bot.channels.http import ApiKeys, build_http_app
from bot.channels.http.keys import ENV_KEY
from bot.cli.http import _telegram_notifier
from bot.cli.main import app
from bot.config import Config
from bot.ops.telegram_emulator import Emulator
from bot.services.consultation import ConsultationService
from bot.wiring import services_for
from knowledge.models import Entry
from storage import repositories as repo
from storage.db import Database
from storage.models import Escalation
from tests.bot.channels.http.conftest import client_for
from tests.conftest import postgres_url

runner = CliRunner()


@pytest.fixture(name="config_file")
def config_file_fixture(db: Database, tmp_path: Path) -> Path:
    """A config file naming the test database."""
    url = postgres_url() or db.url
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    return path


def _lawbot(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_create_prints_the_key_once_on_the_last_line_and_it_authenticates(
    config_file: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)
    code, stdout, _ = _lawbot("api-key", "create", "partner", "--config", str(config_file))
    assert code == 0
    key = stdout.strip().splitlines()[-1]
    assert key.startswith("lbk_")
    assert len(key) >= 40
    keys = ApiKeys(db, env_key=None)
    assert keys.authenticate(key) == "partner"
    code, stdout, _ = _lawbot("api-key", "list", "--config", str(config_file))
    assert code == 0
    assert "partner" in stdout
    assert "active" in stdout
    assert key not in stdout


def test_revoke_stops_the_key_and_a_new_key_keeps_the_name(
    config_file: Path, db: Database
) -> None:
    _, stdout, _ = _lawbot("api-key", "create", "partner", "--config", str(config_file))
    old = stdout.strip().splitlines()[-1]
    code, _, stderr = _lawbot("api-key", "create", "partner", "--config", str(config_file))
    assert code == 2
    assert "revoke it first" in stderr
    code, stdout, _ = _lawbot("api-key", "revoke", "partner", "--config", str(config_file))
    assert code == 0
    keys = ApiKeys(db, env_key=None)
    assert keys.authenticate(old) is None
    _, stdout, _ = _lawbot("api-key", "list", "--config", str(config_file))
    assert "revoked" in stdout
    _, stdout, _ = _lawbot("api-key", "create", "partner", "--config", str(config_file))
    new = stdout.strip().splitlines()[-1]
    assert keys.authenticate(new) == "partner"
    assert keys.authenticate(old) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("api-key", "create", "Has Space"), "the name must be"),
        (("api-key", "create", "x" * 17), "the name must be"),
        (("api-key", "create", "env"), "reserved"),
        (("api-key", "revoke", "nobody"), "no active key"),
    ],
)
def test_bad_key_commands_exit_2_with_one_line(
    config_file: Path, args: tuple[str, ...], message: str
) -> None:
    code, _, stderr = _lawbot(*args, "--config", str(config_file))
    assert code == 2
    assert message in stderr


def test_list_without_keys_says_how_to_make_one(config_file: Path) -> None:
    code, stdout, _ = _lawbot("api-key", "list", "--config", str(config_file))
    assert code == 0
    assert "lawbot api-key create" in stdout


def test_serve_refuses_a_bad_listen_address(config_file: Path) -> None:
    code, _, stderr = _lawbot("serve", "--listen", "8080", "--config", str(config_file))
    assert code == 2
    assert "HOST:PORT" in stderr


def test_serve_needs_the_token_to_notify_through_telegram(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAWBOT_TOKEN", raising=False)
    code, _, stderr = _lawbot("serve", "--notify-telegram", "--config", str(config_file))
    assert code == 2
    assert "LAWBOT_TOKEN" in stderr


async def test_advisor_cards_of_http_questions_go_out_through_the_telegram_bot(
    service: ConsultationService, config: Config, answered: Entry, keys: ApiKeys
) -> None:
    emulator = Emulator(seed=3)
    emulator.start()
    try:
        telegram = config.telegram.model_copy(
            update={"base_url": emulator.base_url, "base_file_url": emulator.base_url}
        )
        service.config = config.model_copy(update={"telegram": telegram})
        services = services_for(service)
        notify, lifespan = _telegram_notifier(services, "123456:TEST-TOKEN")
        http = build_http_app(services, keys=keys, notify=notify, lifespan=lifespan)
        key = keys.create("web")
        async with lifespan(http), client_for(http, key) as client:
            body = (
                await client.post(
                    "/api/v1/messages",
                    json={"user": "u1", "text": answered.question, "village": "waihong"},
                )
            ).json()
            await client.post(
                "/api/v1/actions", json={"user": "u1", "action": f"adv:{body['consultation_id']}"}
            )
        village = config.village("waihong")
        assert village is not None
        [card] = emulator.texts_to(int(str(village.advisor_id)))
        assert answered.question[:10] in card
        with service.db.session() as session:
            escalation = session.exec(select(Escalation)).one()
            assert escalation.id is not None
            assert repo.card_recorded(session=session, escalation_id=escalation.id)
    finally:
        emulator.stop()


async def test_serve_serves_every_channel_from_one_app(
    service: ConsultationService, keys: ApiKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli.http import _channel_routes, _notifiers

    monkeypatch.setenv("LAWBOT_WECHAT_TOKEN", "wechat-token-for-test")
    monkeypatch.setenv("LAWBOT_WEB_SECRET", "w" * 48)
    monkeypatch.setenv("LAWBOT_CONSOLE_SECRET", "c" * 48)
    services = services_for(service)
    router, contexts = _notifiers(services, None)
    routes = _channel_routes(services, router, contexts)
    app = build_http_app(services, keys=keys, notify=router, extra_routes=routes)
    assert "wechat" in router.channels, "WeChat answers go out through its notifier"
    async with client_for(app, keys.create("web")) as client:
        assert (await client.get("/")).headers["location"] == "/chat"
        assert (await client.get("/chat")).status_code == 200
        console = await client.get("/console")
        assert (console.status_code, console.headers["location"]) == (303, "/console/login")
        assert (await client.get("/console/login")).status_code == 200
        assert (await client.get("/wechat")).status_code in (400, 403)  # no signature
        assert (await client.get("/api/v1/health")).json() == {"status": "ok"}
