"""The HTTP JSON API over the real service and database: auth, answers, exactly-once message ids,
limits, bad input, villages, buttons, later replies, and a database that is gone."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot import texts
from bot.channels.http import ApiKeys, build_http_app
from bot.channels.http import app as http_app
from bot.channels.http.keys import ENV_KEY
from bot.config import Config
from bot.services.consultation import ConsultationService
from bot.services.outcomes import Sender
from bot.wiring import services_for
from knowledge.models import Entry
from storage.api_models import ApiResponse
from storage.clock import ManualClock
from storage.db import Database
from storage.models import Consultation, Escalation, Feedback, Villager
from tests.bot.channels.http.conftest import Api, MakeApi, client_for

MESSAGES = "/api/v1/messages"
ACTIONS = "/api/v1/actions"


def _count(service: ConsultationService, model: Any, *where: Any) -> int:
    with service.db.session() as session:
        statement = select(func.count()).select_from(model)
        for clause in where:
            statement = statement.where(clause)
        return int(session.exec(statement).one())


def _texts(body: dict[str, Any]) -> list[str]:
    return [r["text"] for r in body["replies"]]


def _actions(body: dict[str, Any]) -> list[str]:
    return [b["action"] for r in body["replies"] for b in r["buttons"]]


def _advisor(config: Config, code: str = "waihong") -> Sender:
    village = config.village(code)
    assert village is not None
    assert village.advisor_id is not None
    advisor = str(village.advisor_id)
    return Sender("telegram", advisor, advisor)


# --- auth ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer wrong-key", "Basic dXNlcjpwYXNz", "bearer lbk_not-a-real-key"],
)
async def test_a_missing_or_wrong_key_is_401_in_chinese(
    api: Api, service: ConsultationService, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    async with client_for(api.app) as client:
        response = await client.post(
            MESSAGES, json={"user": "u1", "text": "你好"}, headers=headers
        )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    body = response.json()
    assert body["code"] == "unauthorized"
    assert "密钥" in body["message"]
    assert _count(service, Villager) == 0


async def test_a_revoked_key_is_401_at_once(api: Api, answered: Entry) -> None:
    assert (
        await api.client.post(MESSAGES, json={"user": "u1", "text": answered.question})
    ).is_success
    api.keys.revoke("web")
    response = await api.client.post(MESSAGES, json={"user": "u1", "text": answered.question})
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


async def test_the_key_from_the_environment_is_named_env(
    service: ConsultationService, monkeypatch: pytest.MonkeyPatch, answered: Entry
) -> None:
    monkeypatch.setenv(ENV_KEY, "an-operator-chosen-secret")
    app = build_http_app(services_for(service))
    async with client_for(app, "an-operator-chosen-secret") as client:
        response = await client.post(MESSAGES, json={"user": "u1", "text": answered.question})
    assert response.status_code == 200
    with service.db.session() as session:
        villager = session.exec(select(Villager)).one()
    assert (villager.channel, villager.channel_user_id) == ("http", "env:u1")


async def test_keys_are_stored_hashed(api: Api, service: ConsultationService) -> None:
    from storage.api_models import ApiKey

    with service.db.session() as session:
        stored = session.exec(select(ApiKey)).one()
    assert stored.name == "web"
    assert api.key not in stored.key_hash
    assert len(stored.key_hash) == 64


# --- answers ------------------------------------------------------------------------------------


async def test_a_question_is_answered_with_the_entrys_answer(
    api: Api, service: ConsultationService, answered: Entry
) -> None:
    response = await api.client.post(
        MESSAGES, json={"user": "u1", "text": answered.question, "village": "waihong"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["decision"] == "answer"
    assert isinstance(body["consultation_id"], int)
    replies = _texts(body)
    # First contact: the welcome with the privacy note, the village set, then the answer.
    assert texts.WELCOME.format(town=service.config.town.name) in replies[0]
    assert "外洪" in replies[1]
    assert answered.answer in replies[-1]
    assert f"fb:{body['consultation_id']}:y" in _actions(body)
    for reply in body["replies"]:
        assert all(set(b) == {"label", "action"} for b in reply["buttons"])
    with service.db.session() as session:
        villager = session.exec(select(Villager)).one()
        consultation = session.exec(select(Consultation)).one()
    assert villager.channel_user_id == "web:u1"
    assert villager.village_code == "waihong"
    assert villager.consent_at is not None
    assert consultation.channel == "http"
    assert consultation.faq_id == answered.id


async def test_the_greeting_comes_once_and_a_new_village_is_bound_by_the_village_action(
    api: Api, service: ConsultationService, answered: Entry
) -> None:
    await api.client.post(
        MESSAGES, json={"user": "u1", "text": answered.question, "village": "waihong"}
    )
    again = (
        await api.client.post(
            MESSAGES, json={"user": "u1", "text": answered.question, "village": "waihong"}
        )
    ).json()
    assert len(again["replies"]) == 1
    assert answered.answer in again["replies"][0]["text"]
    moved = (
        await api.client.post(
            MESSAGES, json={"user": "u1", "text": answered.question, "village": "hengqiao"}
        )
    ).json()
    assert "横桥" in moved["replies"][0]["text"]
    with service.db.session() as session:
        assert session.exec(select(Villager)).one().village_code == "hengqiao"


async def test_users_are_separate_per_key(
    api: Api, service: ConsultationService, keys: ApiKeys, answered: Entry
) -> None:
    other = keys.create("partner")
    await api.client.post(MESSAGES, json={"user": "u1", "text": answered.question})
    await api.client.post(
        MESSAGES,
        json={"user": "u1", "text": answered.question},
        headers={"Authorization": f"Bearer {other}"},
    )
    with service.db.session() as session:
        ids = sorted(v.channel_user_id for v in session.exec(select(Villager)))
    assert ids == ["partner:u1", "web:u1"]


async def test_typed_commands_run_the_villager_commands(api: Api) -> None:
    body = (await api.client.post(MESSAGES, json={"user": "u1", "text": "/forget"})).json()
    assert body["replies"][-1]["text"] == texts.FORGET_CONFIRM
    assert _actions(body)[-2:] == ["forget:y", "forget:n"]
    assert body["consultation_id"] is None


# --- exactly once -------------------------------------------------------------------------------


async def test_the_same_message_id_twice_returns_the_same_reply_and_one_consultation(
    api: Api, service: ConsultationService, answered: Entry
) -> None:
    message = {"user": "u1", "text": answered.question, "village": "waihong", "message_id": "m-1"}
    first = await api.client.post(MESSAGES, json=message)
    second = await api.client.post(MESSAGES, json=message)
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert "Idempotent-Replay" not in first.headers
    assert second.headers["Idempotent-Replay"] == "true"
    assert _count(service, Consultation) == 1
    with service.db.session() as session:
        row = session.exec(select(Consultation)).one()
    assert row.update_key == "http:web:m-1"
    assert row.replied_at is not None
    other = await api.client.post(MESSAGES, json={**message, "message_id": "m-2"})
    assert other.json()["consultation_id"] != first.json()["consultation_id"]
    assert _count(service, Consultation) == 2


async def test_the_same_message_id_at_once_is_still_one_consultation(
    api: Api, service: ConsultationService, answered: Entry
) -> None:
    message = {"user": "u1", "text": answered.question, "message_id": "m-1"}
    await api.client.post(MESSAGES, json={"user": "u1", "text": "/help"})  # the villager exists
    responses = await asyncio.gather(*(api.client.post(MESSAGES, json=message) for _ in range(4)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert _count(service, Consultation) == 1


async def test_a_message_recorded_before_a_crash_is_answered_from_the_record(
    api: Api, service: ConsultationService, answered: Entry
) -> None:
    # The consultation was committed, then the process died before the reply was stored.
    recorded = service.ask(
        Sender("http", "web:u1", "web:u1"), answered.question, update_key="http:web:m-9"
    )
    response = await api.client.post(
        MESSAGES, json={"user": "u1", "text": answered.question, "message_id": "m-9"}
    )
    body = response.json()
    assert body["consultation_id"] == recorded.consultation_id
    assert answered.answer in body["replies"][-1]["text"]
    assert _count(service, Consultation) == 1


async def test_a_message_id_past_the_window_is_409_and_records_nothing(
    api: Api, service: ConsultationService, answered: Entry
) -> None:
    message = {"user": "u1", "text": answered.question, "message_id": "m-1"}
    await api.client.post(MESSAGES, json=message)
    with service.db.session() as session:
        for row in session.exec(select(ApiResponse)):
            session.delete(row)
    response = await api.client.post(MESSAGES, json=message)
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_message"
    assert _count(service, Consultation) == 1


async def test_stored_replies_past_the_window_are_pruned(
    make_api: MakeApi,
    service: ConsultationService,
    clock: ManualClock,
    answered: Entry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = make_api(idempotency_hours=1)
    await api.client.post(
        MESSAGES, json={"user": "u1", "text": answered.question, "message_id": "a"}
    )
    clock.advance(hours=2)
    monkeypatch.setattr(http_app, "PRUNE_EVERY", timedelta(0))
    await api.client.post(
        MESSAGES, json={"user": "u2", "text": answered.question, "message_id": "b"}
    )
    with service.db.session() as session:
        keys = [r.update_key for r in session.exec(select(ApiResponse))]
    assert keys == ["http:web:b"]


# --- limits -------------------------------------------------------------------------------------


async def test_over_the_per_user_limit_is_429_with_retry_after(
    make_api: MakeApi, service: ConsultationService, answered: Entry
) -> None:
    api = make_api(user_requests_per_minute=2)
    message = {"user": "u1", "text": answered.question}
    assert (await api.client.post(MESSAGES, json=message)).status_code == 200
    api.monotonic.now += 10
    assert (await api.client.post(MESSAGES, json=message)).status_code == 200
    refused = await api.client.post(MESSAGES, json=message)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "50"
    assert refused.json()["code"] == "rate_limited"
    assert "50 秒" in refused.json()["message"]
    assert _count(service, Consultation) == 2
    # another user is not held up; the first one is again once the window slides
    assert (await api.client.post(MESSAGES, json={**message, "user": "u2"})).status_code == 200
    api.monotonic.now += 51
    assert (await api.client.post(MESSAGES, json=message)).status_code == 200


async def test_over_the_per_key_limit_is_429(make_api: MakeApi, answered: Entry) -> None:
    api = make_api(key_requests_per_minute=3)
    for user in ("a", "b", "c"):
        assert (
            await api.client.post(MESSAGES, json={"user": user, "text": answered.question})
        ).is_success
    refused = await api.client.post(MESSAGES, json={"user": "d", "text": answered.question})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1


async def test_the_villager_pace_limit_holds_messages_and_the_poll_releases_them(
    api: Api, service: ConsultationService, clock: ManualClock, answered: Entry
) -> None:
    limit = service.config.conversation.max_messages_per_minute
    for _ in range(limit):
        assert (
            await api.client.post(MESSAGES, json={"user": "u1", "text": answered.question})
        ).is_success
    held = await api.client.post(MESSAGES, json={"user": "u1", "text": answered.question})
    assert held.status_code == 200
    assert held.json()["decision"] == "throttled"
    assert _texts(held.json()) == [texts.SLOW_DOWN]
    assert (await api.client.get("/api/v1/users/u1/messages")).json() == {"replies": []}
    clock.advance(minutes=2)
    later = (await api.client.get("/api/v1/users/u1/messages")).json()
    assert len(later["replies"]) == 1
    assert answered.answer in later["replies"][0]["text"]


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "status", "code", "field"),
    [
        (b"{not json", 400, "bad_json", None),
        (b"", 400, "bad_json", None),
        (b'["user", "text"]', 400, "bad_json", None),
        (b'{"user": "u1", "text": "\\ud800"}', 422, "invalid_field", "text"),
        (b'{"user": "u1"}', 422, "invalid_field", "text"),
        (b'{"user": "u1", "text": "   "}', 422, "invalid_field", "text"),
        (b'{"user": "u1", "text": 7}', 422, "invalid_field", "text"),
        (b'{"text": "hi"}', 422, "invalid_field", "user"),
        (b'{"user": "a b", "text": "hi"}', 422, "invalid_field", "user"),
        (
            b'{"user": "u1", "text": "hi", "message_id": "has space"}',
            422,
            "invalid_field",
            "message_id",
        ),
        (b'{"user": "u1", "text": "hi", "village": 3}', 422, "invalid_field", "village"),
        (
            '{"user": "u1", "text": "hi", "village": "火星村"}'.encode(),
            400,
            "unknown_village",
            None,
        ),
    ],
)
async def test_bad_input_is_a_4xx_in_chinese_and_stores_nothing(
    api: Api,
    service: ConsultationService,
    content: bytes,
    status: int,
    code: str,
    field: str | None,
) -> None:
    response = await api.client.post(
        MESSAGES, content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert body.get("field") == field
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])
    assert _count(service, Villager) == 0
    assert _count(service, Consultation) == 0


async def test_text_over_the_limit_is_413(make_api: MakeApi, service: ConsultationService) -> None:
    api = make_api(max_text_chars=50)
    assert (
        await api.client.post(MESSAGES, json={"user": "u1", "text": "地" * 50})
    ).status_code == 200
    response = await api.client.post(MESSAGES, json={"user": "u1", "text": "地" * 51})
    assert response.status_code == 413
    assert response.json()["code"] == "text_too_long"
    assert "50" in response.json()["message"]
    assert _count(service, Consultation) == 1


async def test_an_oversized_body_is_413_before_it_is_parsed(make_api: MakeApi) -> None:
    api = make_api(max_text_chars=10)
    response = await api.client.post(MESSAGES, content=b"x" * 100_000)
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


async def test_unknown_routes_and_methods_are_json(api: Api) -> None:
    missing = await api.client.get("/api/v1/nothing")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    wrong = await api.client.get(MESSAGES)
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"


# --- buttons ------------------------------------------------------------------------------------


async def test_a_button_from_a_reply_is_carried_out(
    api: Api, service: ConsultationService, answered: Entry
) -> None:
    body = (await api.client.post(MESSAGES, json={"user": "u1", "text": answered.question})).json()
    helpful = f"fb:{body['consultation_id']}:y"
    assert helpful in _actions(body)
    pressed = await api.client.post(ACTIONS, json={"user": "u1", "action": helpful})
    assert pressed.status_code == 200
    assert pressed.json()["replies"]
    assert _count(service, Feedback) == 1


async def test_an_unknown_or_foreign_action_gets_the_polite_reply(
    api: Api, answered: Entry
) -> None:
    body = (await api.client.post(MESSAGES, json={"user": "u1", "text": answered.question})).json()
    for action in ("nonsense", f"fb:{body['consultation_id']}:y"):
        pressed = await api.client.post(ACTIONS, json={"user": "u2", "action": action})
        assert pressed.status_code == 200
        assert _texts(pressed.json()) == [texts.CHOICE_EXPIRED]
    missing = await api.client.post(ACTIONS, json={"user": "u2"})
    assert missing.status_code == 422
    assert missing.json()["field"] == "action"


async def test_an_advisor_answer_arrives_in_the_poll_once(
    api: Api, service: ConsultationService, config: Config, answered: Entry
) -> None:
    body = (
        await api.client.post(
            MESSAGES, json={"user": "u1", "text": answered.question, "village": "waihong"}
        )
    ).json()
    escalated = (
        await api.client.post(
            ACTIONS, json={"user": "u1", "action": f"adv:{body['consultation_id']}"}
        )
    ).json()
    assert "外洪" in escalated["replies"][0]["text"]
    with service.db.session() as session:
        escalation = session.exec(select(Escalation)).one()
    # the advisor's card went to the notifier (the HTTP channel cannot send it itself)
    [card] = api.notices
    assert card.escalation_id == escalation.id
    assert card.user_id == _advisor(config).user_id
    service.advisor_command(_advisor(config), "reply", f"{escalation.id} 请带上承包合同来村委会。")
    later = await api.client.get("/api/v1/users/u1/messages")
    assert later.status_code == 200
    [answer] = later.json()["replies"]
    assert "请带上承包合同来村委会。" in answer["text"]
    assert any(b["action"].startswith("ev:") for b in answer["buttons"])
    assert (await api.client.get("/api/v1/users/u1/messages")).json() == {"replies": []}


async def test_polling_an_unknown_user_creates_nobody(
    api: Api, service: ConsultationService
) -> None:
    assert (await api.client.get("/api/v1/users/nobody/messages")).json() == {"replies": []}
    assert _count(service, Villager) == 0
    bad = await api.client.get("/api/v1/users/has%20space/messages")
    assert bad.status_code == 422


# --- documents and outages ----------------------------------------------------------------------


async def test_the_openapi_document_describes_the_routes(api: Api) -> None:
    async with client_for(api.app) as client:
        response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) >= {"/messages", "/actions", "/users/{user}/messages"}
    schema = document["components"]["schemas"]["Message"]
    assert schema["properties"]["text"]["maxLength"] == 2000


async def test_health_answers_when_the_database_does(api: Api) -> None:
    async with client_for(api.app) as client:
        assert (await client.get("/api/v1/health")).json() == {"status": "ok"}


async def test_an_unreachable_database_is_503(service: ConsultationService, keys: ApiKeys) -> None:
    gone = Database("postgresql://nobody@127.0.0.1:1/none")
    broken = dataclasses.replace(service, db=gone)
    app = build_http_app(services_for(broken), keys=ApiKeys(gone, env_key=None))
    async with client_for(app, "lbk_anything") as client:
        response = await client.post(MESSAGES, json={"user": "u1", "text": "你好"})
        health = await client.get("/api/v1/health")
    gone.dispose()
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert response.headers["Retry-After"]
    assert health.status_code == 503
