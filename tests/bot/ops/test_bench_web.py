"""`lawbot bench-web`, small: a synthetic year of 2,000 consultations, every console page
requested through the real app with real sign-ins, each answering 200 (timings belong to the
command, never to a test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import func, select

from bot.config import Config
from bot.ops.bench_web import bench_web
from storage.db import Database
from storage.models import Consultation, Escalation, EscalationTurn, Feedback
from tests.conftest import MORNING, fresh_database

PAGES = {
    "dashboard (month)", "dashboard (year)", "dashboard (advisor)", "ledger (first page)",
    "ledger (filtered)", "ledger (page 32)", "ledger (advisor)", "ledger.csv (month)",
    "ledger.xlsx (month)", "escalations", "escalations (advisor)", "drafts", "campaigns", "audit",
}  # fmt: skip


def test_bench_web_fills_a_year_and_every_page_answers(config: Config, tmp_path: Path) -> None:
    db = fresh_database(tmp_path)  # SQLite, or the suite's PostgreSQL (schema dropped)
    url = db.url
    db.dispose()
    result = bench_web(config, database_url=url, consultations=2000, requests=2, now=MORNING)

    assert {p.name for p in result.pages} == PAGES
    for page in result.pages:
        assert page.statuses == (200, 200), page
        assert page.errors == 0
        assert page.bytes > 0
        assert page.p50_ms <= page.p95_ms <= page.max_ms
    assert result.rows["consultations"] == result.consultations == 2000
    assert result.rows["escalations"] > 0
    assert result.rows["deliveries"] > 0

    data = json.loads(result.to_json())
    assert data["backend"] == db.backend
    assert [p["name"] for p in data["pages"]] == [p.name for p in result.pages]
    assert {p["statuses"][0] for p in data["pages"]} == {200}
    assert {"p50_ms", "p95_ms", "max_ms", "within_budget"} <= set(data["pages"][0])
    table = result.table()
    for page in result.pages:
        assert page.name in table

    with Database(url).session() as session:
        count = session.exec(select(func.count()).select_from(Consultation)).one()
        escalations = session.exec(select(func.count()).select_from(Escalation)).one()
        turns = session.exec(select(func.count()).select_from(EscalationTurn)).one()
        feedback = session.exec(select(func.count()).select_from(Feedback)).one()
        newest = session.exec(select(func.max(Consultation.created_at))).one()
    assert count == 2000
    assert escalations == result.rows["escalations"]
    assert turns >= escalations  # each escalation starts with the villager's turn
    assert feedback == result.rows["feedback"]
    assert newest is not None
    assert newest.replace(tzinfo=None) < MORNING.replace(tzinfo=None)


def test_bench_web_refuses_a_database_that_holds_consultations(
    config: Config, tmp_path: Path
) -> None:
    db = fresh_database(tmp_path)
    url = db.url
    db.dispose()
    bench_web(config, database_url=url, consultations=50, requests=1, now=MORNING)
    with pytest.raises(ValueError, match="empty database"):
        bench_web(config, database_url=url, consultations=50, requests=1, now=MORNING)
