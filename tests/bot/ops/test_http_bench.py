"""`lawbot bench-http`, small: both phases run through a real server and every message is stored
exactly once (speed figures belong to the benchmark command, not to a test)."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import func, select

from bot.config import Config
from bot.ops.http_bench import bench_http
from storage.db import Database
from storage.models import Consultation
from tests.conftest import postgres_url


def test_bench_http_runs_both_phases_without_errors(
    config: Config, db: Database, tmp_path: Path
) -> None:
    url = postgres_url() or f"sqlite:///{tmp_path / 'bench.sqlite3'}"
    result = bench_http(
        config, database_url=url, rate=20, seconds=1, flat_messages=30, concurrency=4, users=5,
        semantic=False,
    )  # fmt: skip
    assert (result.paced.requests, result.paced.errors) == (20, 0)
    assert (result.flat.requests, result.flat.errors) == (30, 0)
    assert result.backend == ("postgresql" if postgres_url() else "sqlite")
    assert "msg/s" in result.summary()
    with Database(url).session() as session:
        stored = session.exec(select(func.count()).select_from(Consultation)).one()
    assert stored == 1 + 20 + 30  # the warm-up message too, each exactly once
