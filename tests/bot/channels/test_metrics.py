"""`/healthz`, `/readyz` and `/metrics` on the serve app, over httpx's ASGI transport, with the real
service and database: messages counted by channel and decision, the latency histogram, escalations
open and pushes read from the database, notices by channel, a database that is gone."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import date, timedelta

import httpx
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import select
from starlette.applications import Starlette

from bot.channels import metrics
from bot.channels.http import ApiKeys, build_http_app
from bot.channels.http.keys import ENV_KEY
from bot.channels.metrics import ops_routes
from bot.channels.notify import NoticeRouter
from bot.services.consultation import ConsultationService
from bot.services.outcomes import Notice
from bot.services.replies import Reply
from bot.wiring import services_for
from knowledge.models import Entry, KnowledgeBase
from storage.campaign_models import CampaignDelivery, CampaignRun, DeliveryState
from storage.db import Database
from storage.models import Villager
from tests.bot.channels.http.conftest import client_for

GONE = "postgresql://postgres@127.0.0.1:1/gone"  # nothing listens on port 1: refused at once


def _app(service: ConsultationService, keys: ApiKeys | None = None) -> Starlette:
    services = services_for(service)
    return build_http_app(services, keys=keys, extra_routes=ops_routes(services))


def _samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, keyed by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def _value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture(name="answered")
def answered_fixture(service: ConsultationService) -> Entry:
    """An entry whose own question the matcher answers outright."""
    return next(
        e for e in service.kb.entries if service.matcher.match(e.question).decision == "answer"
    )


@pytest.fixture(name="api")
async def api_fixture(
    service: ConsultationService, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.delenv(ENV_KEY, raising=False)
    keys = ApiKeys(service.db, clock=service.clock)
    async with client_for(_app(service, keys), keys.create("web")) as client:
        yield client


async def test_healthz_is_200_while_the_loop_runs(service: ConsultationService) -> None:
    async with client_for(_app(service)) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


async def test_readyz_is_200_with_the_database_and_the_kb(service: ConsultationService) -> None:
    async with client_for(_app(service)) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"].startswith("ok")
    assert f"{len(service.kb.entries)} entries" in body["checks"]["knowledge"]
    assert "failing" not in body


async def test_readyz_is_503_naming_the_database_when_it_does_not_answer(
    service: ConsultationService,
) -> None:
    gone = Database(GONE)
    try:
        async with client_for(_app(dataclasses.replace(service, db=gone))) as client:
            response = await client.get("/readyz")
            alive = await client.get("/healthz")
    finally:
        gone.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["failing"] == ["database"]
    assert body["checks"]["knowledge"].startswith("ok")
    assert alive.status_code == 200  # liveness does not depend on the database


async def test_readyz_is_503_naming_the_kb_when_no_entry_is_loaded(
    service: ConsultationService,
) -> None:
    empty = dataclasses.replace(service, kb=KnowledgeBase(topics=()))
    async with client_for(_app(empty)) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["knowledge"]


async def test_metrics_count_messages_by_channel_and_decision_with_their_latency(
    api: httpx.AsyncClient, answered: Entry
) -> None:
    before = _value("lawbot_messages_total", channel="http", decision="answer")
    latencies = _value("lawbot_match_latency_seconds_count", channel="http")
    for n in range(3):
        sent = await api.post(
            "/api/v1/messages",
            json={"user": f"u{n}", "text": answered.question, "message_id": f"m{n}"},
        )
        assert sent.json()["decision"] == "answer"
    # a redelivered message id is answered from the store: not counted again
    again = await api.post(
        "/api/v1/messages", json={"user": "u0", "text": answered.question, "message_id": "m0"}
    )
    assert again.headers["Idempotent-Replay"] == "true"
    response = await api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(response.text)
    key = (("channel", "http"), ("decision", "answer"))
    assert samples[("lawbot_messages_total", key)] == before + 3
    assert samples[("lawbot_match_latency_seconds_count", (("channel", "http"),))] == latencies + 3
    assert samples[("lawbot_match_latency_seconds_sum", (("channel", "http"),))] > 0
    assert ("lawbot_scheduler_leader", ()) in samples
    assert samples[("process_resident_memory_bytes", ())] > 0


async def test_metrics_read_escalations_open_and_pushes_from_the_database(
    api: httpx.AsyncClient, service: ConsultationService, answered: Entry
) -> None:
    empty = _samples((await api.get("/metrics")).text)
    assert empty[("lawbot_database_up", ())] == 1
    assert empty[("lawbot_escalations_open", (("state", "open"),))] == 0
    body = (
        await api.post(
            "/api/v1/messages",
            json={"user": "u1", "text": answered.question, "village": "waihong"},
        )
    ).json()
    escalated = await api.post(
        "/api/v1/actions", json={"user": "u1", "action": f"adv:{body['consultation_id']}"}
    )
    assert escalated.status_code == 200
    now = service.clock()
    with service.db.session() as session:
        villager = session.exec(select(Villager)).one()
        assert villager.id is not None
        for n, state in enumerate((DeliveryState.SENT, DeliveryState.SENT, DeliveryState.FAILED)):
            run = CampaignRun(
                campaign="test", push_key=f"p{n}", scheduled_for=date(2026, 11, 20), due_at=now
            )
            session.add(run)
            session.flush()
            assert run.id is not None
            session.add(
                CampaignDelivery(
                    run_id=run.id,
                    villager_id=villager.id,
                    chat_id="c",
                    state=state,
                    sent_at=now + timedelta(seconds=n),
                )
            )
    samples = _samples((await api.get("/metrics")).text)
    assert samples[("lawbot_escalations_open", (("state", "open"),))] == 1
    assert samples[("lawbot_escalations_open", (("state", "claimed"),))] == 0
    assert samples[("lawbot_pushes", (("state", "sent"),))] == 2
    assert samples[("lawbot_pushes", (("state", "failed"),))] == 1
    assert samples[("lawbot_pushes", (("state", "blocked"),))] == 0


async def test_metrics_still_answer_when_the_database_is_gone(
    service: ConsultationService,
) -> None:
    gone = Database(GONE)
    try:
        async with client_for(_app(dataclasses.replace(service, db=gone))) as client:
            response = await client.get("/metrics")
    finally:
        gone.dispose()
    assert response.status_code == 200
    samples = _samples(response.text)
    assert samples[("lawbot_database_up", ())] == 0
    assert not any(name == "lawbot_escalations_open" for name, _ in samples)


async def test_notices_are_counted_by_channel_delivered_failed_or_waiting() -> None:
    delivered: list[Notice] = []

    async def telegram(notices: tuple[Notice, ...]) -> None:
        delivered.extend(notices)

    async def wechat(_notices: tuple[Notice, ...]) -> None:
        raise ConnectionError("wechat api down")

    before = {
        (c, r): _value("lawbot_notices_total", channel=c, result=r)
        for c, r in (("telegram", "delivered"), ("wechat", "failed"), ("sms", "waiting"))
    }
    router = NoticeRouter({"telegram": telegram, "wechat": wechat})
    card = Reply("新的咨询")
    await router(
        (
            Notice("1", card, channel="telegram"),
            Notice("2", card, channel="telegram"),
            Notice("3", card, channel="wechat"),
            Notice("4", card, channel="sms"),
            Notice("5", card, channel="http"),  # pulled by the villager: not a push
        )
    )
    await router((Notice("6", card, channel="sms"),))
    assert len(delivered) == 2
    assert _value("lawbot_notices_total", channel="telegram", result="delivered") == (
        before["telegram", "delivered"] + 2
    )
    assert _value("lawbot_notices_total", channel="wechat", result="failed") == (
        before["wechat", "failed"] + 1
    )
    assert _value("lawbot_notices_total", channel="sms", result="waiting") == (
        before["sms", "waiting"] + 2
    )
    assert _value("lawbot_notices_total", channel="http", result="waiting") == 0


def test_the_metrics_live_in_their_own_registry_not_the_global_one() -> None:
    metrics.observe_message("http", "answer", 0.01)
    assert metrics.REGISTRY.get_sample_value(
        "lawbot_messages_total", {"channel": "http", "decision": "answer"}
    )
    assert (
        prometheus_client.REGISTRY.get_sample_value(
            "lawbot_messages_total", {"channel": "http", "decision": "answer"}
        )
        is None
    )
