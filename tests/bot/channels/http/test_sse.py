"""Server-Sent Events of the JSON API against a real uvicorn on 127.0.0.1: an advisor's answer
arrives as an event, keep-alives flow, auth and user ids are checked, a closed stream stops."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlmodel import select
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.channels.http import ApiKeys, build_http_app
from bot.channels.http.sse import StreamSettings
from bot.config import Config
from bot.services.consultation import ConsultationService
from bot.services.outcomes import Sender
from bot.wiring import services_for
from knowledge.models import Entry
from storage.models import Escalation
from tests.bot.channels.web.live import serve

FAST = StreamSettings(poll_seconds=0.1, keepalive_seconds=0.5, max_seconds=30)
STREAM = "/api/v1/users/u1/stream"


@dataclass
class Live:
    """A real server of the HTTP app and a key for it."""

    url: str
    key: str

    def client(self, *, key: str | None = "") -> httpx.AsyncClient:
        token = self.key if key == "" else key
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)


async def _extra(_request: Request) -> Response:
    return PlainTextResponse("extra")


@pytest.fixture(name="live")
def live_fixture(service: ConsultationService, keys: ApiKeys) -> Iterator[Live]:
    key = keys.create("web")
    app = build_http_app(
        services_for(service),
        keys=keys,
        stream=FAST,
        extra_routes=[Route("/extra", _extra, methods=["GET"])],
    )
    with serve(app) as url:
        yield Live(url, key)


def _advisor(config: Config) -> Sender:
    village = config.village("waihong")
    assert village is not None
    assert village.advisor_id is not None
    return Sender("telegram", str(village.advisor_id), str(village.advisor_id))


async def _escalate(client: httpx.AsyncClient, service: ConsultationService, entry: Entry) -> int:
    """Ask as u1 of waihong, pass it to the advisor; return the escalation id."""
    body = (
        await client.post(
            "/api/v1/messages",
            json={"user": "u1", "text": entry.question, "village": "waihong"},
        )
    ).json()
    await client.post(
        "/api/v1/actions", json={"user": "u1", "action": f"adv:{body['consultation_id']}"}
    )
    with service.db.session() as session:
        escalation = session.exec(select(Escalation)).one()
    assert escalation.id is not None
    return escalation.id


async def _events(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, str]]:
    """Group SSE lines into events (field -> value); comments come as {"comment": …}."""
    event: dict[str, str] = {}
    async for line in lines:
        if line == "":
            if event:
                yield event
            event = {}
        elif line.startswith(":"):
            yield {"comment": line[1:].strip()}
        else:
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")


async def test_an_advisor_answer_arrives_as_a_reply_event(
    live: Live, service: ConsultationService, config: Config, answered: Entry
) -> None:
    async with live.client() as client:
        escalation_id = await _escalate(client, service, answered)
        async with client.stream("GET", STREAM) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = _events(response.aiter_lines())
            assert await anext(events) == {"comment": "connected"}
            assert await anext(events) == {"retry": "3000"}
            await asyncio.to_thread(
                service.advisor_command,
                _advisor(config),
                "reply",
                f"{escalation_id} 请带上承包合同来村委会。",
            )
            reply = await asyncio.wait_for(_next_reply(events), timeout=10)
        # the poll endpoint returns what the stream did not: nothing
        later = await client.get("/api/v1/users/u1/messages")
    assert reply["event"] == "reply"
    assert reply["id"]
    data = json.loads(reply["data"])
    assert "请带上承包合同来村委会。" in data["text"]
    assert any(b["action"].startswith("ev:") for b in data["buttons"])
    assert later.json() == {"replies": []}


async def _next_reply(events: AsyncIterator[dict[str, str]]) -> dict[str, str]:
    async for event in events:
        if event.get("event") == "reply":
            return event
    raise AssertionError("the stream ended without a reply")


async def test_a_quiet_stream_sends_keep_alive_comments(live: Live, answered: Entry) -> None:
    async with live.client() as client:
        await client.post("/api/v1/messages", json={"user": "u1", "text": answered.question})
        async with client.stream("GET", STREAM) as response:
            events = _events(response.aiter_lines())
            comments = []
            async with asyncio.timeout(10):
                async for event in events:
                    if "comment" in event:
                        comments.append(event["comment"])
                    if "keep-alive" in comments:
                        break
    assert comments[0] == "connected"
    assert "keep-alive" in comments


async def test_the_stream_needs_a_key_and_a_well_formed_user(live: Live) -> None:
    async with live.client(key=None) as anonymous:
        refused = await anonymous.get(STREAM)
    async with live.client(key="lbk_wrong") as wrong:
        forged = await wrong.get(STREAM)
    async with live.client() as client:
        malformed = await client.get("/api/v1/users/has%20space/stream")
    assert refused.status_code == forged.status_code == 401
    assert refused.json()["code"] == "unauthorized"
    assert malformed.status_code == 422
    assert malformed.json()["field"] == "user"


async def test_a_closed_stream_stops_taking_replies(
    live: Live, service: ConsultationService, config: Config, answered: Entry
) -> None:
    async with live.client() as client:
        escalation_id = await _escalate(client, service, answered)
        async with client.stream("GET", STREAM) as response:
            await anext(response.aiter_lines())
        await asyncio.sleep(FAST.poll_seconds * 5)  # the server notices the client is gone
        await asyncio.to_thread(
            service.advisor_command, _advisor(config), "reply", f"{escalation_id} 明天上午来。"
        )
        await asyncio.sleep(FAST.poll_seconds * 5)  # a stream still polling would take it
        later = await client.get("/api/v1/users/u1/messages")
    [answer] = later.json()["replies"]
    assert "明天上午来。" in answer["text"]


async def test_extra_routes_are_served_by_the_same_app(live: Live) -> None:
    async with live.client() as client:
        extra = await client.get("/extra")
        document = (await client.get("/api/v1/openapi.json")).json()
    assert extra.text == "extra"
    stream = document["paths"]["/users/{user}/stream"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
