"""The web chat's page and endpoints over real HTTP: the device cookie, CSRF and same-site checks,
exactly-once messages, bad input in Chinese with nothing stored, limits, word commands, later
replies by poll and by SSE, and the cookie secret."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from bot import texts
from bot.channels.web import COOKIE, SECRET_ENV, Devices, WebSecretError, load_secret
from bot.channels.web.device import secret_dir_for
from bot.config import Config
from bot.services.consultation import ConsultationService
from knowledge.models import Entry
from storage.models import Consultation, Villager
from tests.bot.channels.web.conftest import SECRET, Chat, advisor, make_chat, open_page

MESSAGES = "/chat/api/messages"
ACTIONS = "/chat/api/actions"


def _count(service: ConsultationService, model: Any) -> int:
    with service.db.session() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def _texts(body: dict[str, Any]) -> list[str]:
    return [r["text"] for r in body["replies"]]


def _actions(body: dict[str, Any]) -> list[str]:
    return [b["action"] for r in body["replies"] for b in r["buttons"]]


async def _say(
    client: httpx.AsyncClient, token: str, text: str, message_id: str, **extra: str
) -> httpx.Response:
    return await client.post(
        MESSAGES,
        json={"text": text, "message_id": message_id, **extra},
        headers={"X-CSRF-Token": token},
    )


# --- the page -----------------------------------------------------------------------------------


async def test_the_page_sets_a_signed_http_only_lax_cookie_and_renews_it(chat: Chat) -> None:
    async with chat.client() as client:
        first = await client.get("/chat")
        again = await client.get("/chat")
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Path=/chat" in cookie
    assert "Max-Age=34560000" in cookie
    # each visit renews the cookie, for the same device
    assert again.headers["set-cookie"].split(";")[0] == cookie.split(";")[0]
    assert first.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in first.headers["content-security-policy"]
    assert "<script>" not in first.text  # no inline script: the CSP allows none
    assert texts.WEB_TITLE.format(town=chat.service.config.town.name) in first.text
    assert "删除我的信息" in first.text
    assert _count(chat.service, Villager) == 0  # opening the page records nobody


async def test_the_village_of_a_qr_link_is_checked_against_the_config(chat: Chat) -> None:
    async with chat.client() as client:
        known = (await client.get("/chat?v=WaiHong")).text
        unknown = (await client.get("/chat?v=atlantis")).text
    assert 'data-village="waihong"' in known
    assert texts.WEB_VILLAGE_NOTE.format(village="外洪村") in known
    assert 'data-village=""' in unknown
    assert "atlantis" not in unknown


# --- messages -----------------------------------------------------------------------------------


async def test_a_first_message_is_greeted_answered_and_binds_the_village(
    chat: Chat, answered: Entry
) -> None:
    async with chat.client() as client:
        token = await open_page(client, "?v=waihong")
        response = await _say(client, token, answered.question, "m-000001", village="waihong")
    assert response.status_code == 200
    body = response.json()
    replies = _texts(body)
    assert replies[0].startswith(texts.WELCOME.format(town="曹溪镇")[:10])
    assert replies[1] == texts.VILLAGE_SET.format(village="外洪村")
    assert body["decision"] == "answer"
    assert f"fb:{body['consultation_id']}:y" in _actions(body)
    with chat.service.db.session() as session:
        villager = session.exec(select(Villager)).one()
        consultation = session.exec(select(Consultation)).one()
    assert (villager.channel, villager.village_code) == ("web", "waihong")
    assert consultation.update_key is not None
    assert consultation.update_key.startswith("web:")


async def test_a_retried_message_id_is_answered_once_with_the_same_body(
    chat: Chat, answered: Entry
) -> None:
    async with chat.client() as client:
        token = await open_page(client)
        first = await _say(client, token, answered.question, "retry-0001")
        second = await _say(client, token, answered.question, "retry-0001")
        other = await _say(client, token, answered.question, "retry-0002")
    assert first.status_code == second.status_code == other.status_code == 200
    assert second.content == first.content
    assert _count(chat.service, Consultation) == 2  # retry-0001 once, retry-0002 once


async def test_two_phones_are_two_villagers(chat: Chat, answered: Entry) -> None:
    async with chat.client() as one, chat.client() as two:
        await _say(one, await open_page(one), answered.question, "same-id-01")
        await _say(two, await open_page(two), answered.question, "same-id-01")
    assert _count(chat.service, Villager) == 2
    assert _count(chat.service, Consultation) == 2


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"not json", 400, "bad_request"),
        (b"[1, 2]", 400, "bad_request"),
        (json.dumps({"text": "你好"}).encode(), 400, "bad_request"),
        (json.dumps({"text": "你好", "message_id": "a b"}).encode(), 400, "bad_request"),
        (json.dumps({"text": 3, "message_id": "abcdefgh"}).encode(), 400, "bad_request"),
        (json.dumps({"text": "  \n", "message_id": "abcdefgh"}).encode(), 422, "empty"),
        (json.dumps({"text": "字" * 2001, "message_id": "abcdefgh"}).encode(), 413, "too_long"),
        (
            json.dumps({"text": "你好", "message_id": "abcdefgh", "village": "atlantis"}).encode(),
            400,
            "unknown_village",
        ),
        (b'{"text": "\\ud800", "message_id": "abcdefgh"}', 400, "bad_request"),
    ],
)
async def test_bad_input_gets_a_chinese_message_and_stores_nothing(
    chat: Chat, content: bytes, status: int, code: str
) -> None:
    async with chat.client() as client:
        token = await open_page(client)
        response = await client.post(
            MESSAGES,
            content=content,
            headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
        )
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert body["message"] == texts.WEB_ERRORS[code].format(limit=2000)
    assert _count(chat.service, Villager) == 0
    assert _count(chat.service, Consultation) == 0


async def test_requests_from_other_sites_or_without_the_page_are_refused(chat: Chat) -> None:
    message = {"text": "宅基地可以继承吗", "message_id": "abcdefgh"}
    async with chat.client() as client:
        token = await open_page(client)
        cross = await client.post(
            MESSAGES, json=message, headers={"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"}
        )
        foreign = await client.post(
            MESSAGES, json=message, headers={"X-CSRF-Token": token, "Origin": "https://evil.test"}
        )
        tokenless = await client.post(MESSAGES, json=message)
        stream = await client.get("/chat/api/stream")
        wrong = await client.post(
            ACTIONS, json={"action": "elder:on"}, headers={"X-CSRF-Token": "x"}
        )
    async with chat.client() as stranger:
        cookieless = await stranger.post(MESSAGES, json=message, headers={"X-CSRF-Token": token})
        stranger.cookies.set(COOKIE, "A" * 24 + ".forged", path="/chat")
        forged = await stranger.post(MESSAGES, json=message, headers={"X-CSRF-Token": token})
    for refused in (cross, foreign, tokenless, stream, wrong):
        assert refused.status_code == 403
        assert refused.json()["message"] == texts.WEB_ERRORS["forbidden"]
    for refused in (cookieless, forged):
        assert refused.status_code == 401
        assert refused.json()["message"] == texts.WEB_ERRORS["no_device"]
    assert _count(chat.service, Villager) == 0


async def test_the_page_s_own_requests_pass_the_same_site_checks(chat: Chat) -> None:
    async with chat.client() as client:
        token = await open_page(client)
        same = await client.post(
            MESSAGES,
            json={"text": "/help", "message_id": "help-0001"},
            headers={"X-CSRF-Token": token, "Sec-Fetch-Site": "same-origin"},
        )
        origin = await client.post(
            MESSAGES,
            json={"text": "/help", "message_id": "help-0002"},
            headers={"X-CSRF-Token": token, "Origin": chat.url},
        )
    assert same.status_code == origin.status_code == 200
    assert texts.HELP in _texts(same.json())


@pytest.fixture(name="tight")
def tight_fixture(service: ConsultationService) -> Iterator[Chat]:
    yield from make_chat(service, user_requests_per_minute=2)


async def test_each_device_is_limited_like_an_api_user(tight: Chat) -> None:
    async with tight.client() as one, tight.client() as two:
        token = await open_page(one)
        statuses = [
            (await _say(one, token, "/help", f"limit-{i:04d}")).status_code for i in range(3)
        ]
        refused = await _say(one, token, "/help", "limit-9999")
        other = await _say(two, await open_page(two), "/help", "limit-0001")
    assert statuses == [200, 200, 429]
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["code"] == "rate_limited"
    assert "秒后再试" in refused.json()["message"]
    assert other.status_code == 200


# --- commands and buttons -----------------------------------------------------------------------


async def test_the_words_of_the_menu_run_forget_and_the_button_deletes(
    chat: Chat, answered: Entry
) -> None:
    async with chat.client() as client:
        token = await open_page(client)
        await _say(client, token, answered.question, "forget-001")
        prompt = (await _say(client, token, "删除我的信息", "forget-002")).json()
        assert _texts(prompt) == [texts.FORGET_CONFIRM]
        assert "forget:y" in _actions(prompt)
        done = await client.post(
            ACTIONS, json={"action": "forget:y"}, headers={"X-CSRF-Token": token}
        )
    assert done.status_code == 200
    assert _texts(done.json()) == [texts.FORGOTTEN.format(count=1)]
    with chat.service.db.session() as session:
        [row] = session.exec(select(Consultation)).all()
        villager = session.exec(select(Villager)).one()
    assert row.raw_text != answered.question
    assert villager.channel_user_id.startswith("forgotten-")


async def test_a_bad_action_is_refused_but_an_unknown_one_is_answered_politely(
    chat: Chat,
) -> None:
    async with chat.client() as client:
        token = await open_page(client)
        headers = {"X-CSRF-Token": token}
        empty = await client.post(ACTIONS, json={"action": " "}, headers=headers)
        unknown = await client.post(ACTIONS, json={"action": "nonsense"}, headers=headers)
    assert empty.status_code == 400
    assert empty.json()["message"] == texts.WEB_ERRORS["bad_request"]
    assert unknown.status_code == 200
    assert _texts(unknown.json()) == [texts.CHOICE_EXPIRED]


# --- later replies ------------------------------------------------------------------------------


async def _escalated(chat: Chat, client: httpx.AsyncClient) -> str:
    """Ask for a person as a waihong villager; return the page's token."""
    token = await open_page(client, "?v=waihong")
    body = (await _say(client, token, "找法律顾问", "person-001", village="waihong")).json()
    assert body["decision"] == "escalate"
    return token


async def test_an_advisor_answer_is_fetched_once_by_the_poll(chat: Chat, config: Config) -> None:
    async with chat.client() as client:
        token = await _escalated(chat, client)
        [card] = chat.notices
        assert card.escalation_id == chat.escalation_id()
        chat.service.advisor_command(
            advisor(config), "reply", f"{card.escalation_id} 请来村委会。"
        )
        later = await client.get(MESSAGES, headers={"X-CSRF-Token": token})
        again = await client.get(MESSAGES, headers={"X-CSRF-Token": token})
    [answer] = later.json()["replies"]
    assert "请来村委会。" in answer["text"]
    assert again.json() == {"replies": []}


async def test_an_advisor_answer_arrives_on_the_page_s_stream(chat: Chat, config: Config) -> None:
    async with chat.client() as client:
        token = await _escalated(chat, client)
        async with client.stream("GET", f"/chat/api/stream?t={token}") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            assert await anext(lines) == "retry: 3000"
            chat.service.advisor_command(
                advisor(config), "reply", f"{chat.escalation_id()} 带上身份证。"
            )
            data = None
            async for line in lines:
                if line.startswith("data: "):
                    data = json.loads(line.removeprefix("data: "))
                    break
    assert data is not None
    assert "带上身份证。" in data["text"]


# --- the secret ---------------------------------------------------------------------------------


def test_the_secret_is_generated_once_and_kept_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    first = load_secret(tmp_path / "data")
    second = load_secret(tmp_path / "data")
    assert first == second
    assert len(first) >= 32
    mode = (tmp_path / "data" / "web-secret").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["web-secret"]


def test_the_secret_from_the_environment_wins_and_must_be_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "s" * 40)
    assert load_secret(tmp_path) == b"s" * 40
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv(SECRET_ENV, "short")
    with pytest.raises(WebSecretError, match=SECRET_ENV):
        load_secret(tmp_path)


def test_the_secret_lives_beside_a_sqlite_database_else_under_data(tmp_path: Path) -> None:
    assert secret_dir_for(f"sqlite:///{tmp_path}/lawbot.sqlite3") == tmp_path
    assert secret_dir_for("postgresql://postgres@127.0.0.1/test") == Path("data")


def test_a_cookie_signed_with_another_secret_or_altered_is_not_a_device() -> None:
    devices = Devices(SECRET)
    device = devices.new()
    cookie = devices.cookie(device)
    assert devices.device(cookie) == device
    assert Devices(b"another-secret-entirely-000000").device(cookie) is None
    assert devices.device(cookie[:-1] + ("A" if cookie[-1] != "A" else "B")) is None
    assert devices.device("ünïcode.sig") is None
    assert devices.check_csrf(device, devices.csrf(device))
    assert not devices.check_csrf(device, "ö")
    assert not devices.check_csrf(devices.new(), devices.csrf(device))
