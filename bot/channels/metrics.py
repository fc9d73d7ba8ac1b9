"""Health and Prometheus metrics of a `lawbot serve` worker: `/healthz`, `/readyz`, `/metrics`.

The channel layer calls the hooks (`observe_message`, `observe_notices`, `set_leader`); counters
live in this module's own registry (never prometheus_client's global one). Escalations open and
push deliveries are read from the database at scrape time, so they are the deployment's numbers
(the same on every worker: aggregate them with `max`, not `sum`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.services.container import Services
from storage.campaign_models import CampaignDelivery, DeliveryState
from storage.db import Database
from storage.escalations import ACTIVE_STATES
from storage.models import Escalation

__all__ = [
    "CONTENT_TYPE",
    "REGISTRY",
    "DatabaseCollector",
    "observe_message",
    "observe_notices",
    "ops_routes",
    "set_leader",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the text format every Prometheus reads
READY_TIMEOUT = 3.0  # seconds the database may take to answer a readiness probe
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REGISTRY = CollectorRegistry()
MESSAGES = Counter(
    "lawbot_messages",
    "Villager messages answered, by channel and the matcher's decision",
    ["channel", "decision"],
    registry=REGISTRY,
)
MATCH_LATENCY = Histogram(
    "lawbot_match_latency_seconds",
    "Time the service took to answer one message (triage, match, record), by channel",
    ["channel"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
NOTICES = Counter(
    "lawbot_notices",
    "Notices (advisor cards, reminders, answers) by channel and result "
    "(delivered, failed, waiting: no sender in this process)",
    ["channel", "result"],
    registry=REGISTRY,
)
LEADER = Gauge(
    "lawbot_scheduler_leader",
    "1 while this process leads the scheduler (SLA sweeps, held messages), else 0",
    registry=REGISTRY,
)
ProcessCollector(registry=REGISTRY)


def observe_message(channel: str, decision: str | None, seconds: float) -> None:
    """Count one answered message and its service time."""
    MESSAGES.labels(channel=channel, decision=decision or "none").inc()
    MATCH_LATENCY.labels(channel=channel).observe(seconds)


def observe_notices(channel: str, count: int, result: str) -> None:
    """Count notices handed to a channel's deliverer: delivered, failed or waiting."""
    NOTICES.labels(channel=channel, result=result).inc(count)


def set_leader(*, leading: bool) -> None:
    """Record whether this process leads the scheduler."""
    LEADER.set(1 if leading else 0)


class DatabaseCollector(Collector):
    """Gauges read from the database at each scrape: escalations open, push deliveries."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterable[Metric]:
        """Yield the gauges, or only `lawbot_database_up 0` when the database does not answer."""
        up = GaugeMetricFamily("lawbot_database_up", "1 when the database answered the scrape")
        try:
            escalations, pushes = self._counts()
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        open_ = GaugeMetricFamily(
            "lawbot_escalations_open",
            "Escalations waiting on an advisor or the villager (deployment-wide), by state",
            labels=["state"],
        )
        for state in ACTIVE_STATES:
            open_.add_metric([str(state)], escalations.get(str(state), 0))
        yield open_
        deliveries = GaugeMetricFamily(
            "lawbot_pushes",
            "Publicity push deliveries in the delivery log (deployment-wide), by state",
            labels=["state"],
        )
        for delivery_state in DeliveryState:
            deliveries.add_metric([str(delivery_state)], pushes.get(str(delivery_state), 0))
        yield deliveries

    def _counts(self) -> tuple[dict[str, int], dict[str, int]]:
        with self.db.session() as session:
            state = col(Escalation.state)
            escalations = session.execute(
                select(state, func.count())
                .where(state.in_([str(s) for s in ACTIVE_STATES]))
                .group_by(state)
            ).all()
            delivery = col(CampaignDelivery.state)
            pushes = session.execute(select(delivery, func.count()).group_by(delivery)).all()
        return {str(s): int(n) for s, n in escalations}, {str(s): int(n) for s, n in pushes}


def ops_routes(services: Services, *, ready_timeout: float = READY_TIMEOUT) -> list[Route]:
    """The routes `/healthz`, `/readyz` and `/metrics` over `services` (no key needed)."""
    db = services.consultation.db
    scraped = CollectorRegistry()
    scraped.register(DatabaseCollector(db))

    async def healthz(_request: Request) -> Response:
        """Liveness: the event loop answers."""
        return JSONResponse({"status": "alive"})

    async def readyz(_request: Request) -> Response:
        """Readiness: the database answers and the knowledge base is loaded; else 503."""
        checks: dict[str, str] = {}
        failing: list[str] = []
        started = time.perf_counter()
        try:
            async with asyncio.timeout(ready_timeout):
                await asyncio.to_thread(db.ping)
            checks["database"] = f"ok ({(time.perf_counter() - started) * 1000:.0f} ms)"
        except TimeoutError:
            failing.append("database")
            checks["database"] = f"no answer within {ready_timeout:g} s"
        except Exception as exc:
            failing.append("database")
            checks["database"] = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        entries = len(services.consultation.kb.entries)
        if entries:
            checks["knowledge"] = f"ok ({entries} entries)"
        else:
            failing.append("knowledge")
            checks["knowledge"] = "no entries loaded"
        body: dict[str, Any] = {"status": "not_ready" if failing else "ready", "checks": checks}
        if failing:
            body["failing"] = failing
        return JSONResponse(body, status_code=503 if failing else 200)

    async def metrics(_request: Request) -> Response:
        """Prometheus text format: this process's counters, then the database's gauges."""
        own = generate_latest(REGISTRY)
        from_db = await asyncio.to_thread(generate_latest, scraped)
        return Response(own + from_db, media_type=CONTENT_TYPE)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
