"""Load, faults and SIGKILL through the real bot subprocess and the emulator (bot.ops.reliability_load).

The CI variants are small; `-m slow` runs the issue's full scenario (500 villagers, 10,000
messages). Each prints its line for the table in docs/reliability.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Config
from bot.ops.reliability_load import IN_FLIGHT, LoadPlan, LoadResult, run_load
from storage.db import Database

CONCURRENT_UPDATES = IN_FLIGHT


def _run(config: Config, db: Database, tmp_path: Path, plan: LoadPlan) -> LoadResult:
    result = run_load(config, plan, database_url=db.url, workdir=tmp_path)
    print(result.summary())  # the benchmark line, shown with -s
    return result


def test_load_with_bursts_every_message_one_row_one_reply(
    config: Config, db: Database, tmp_path: Path
) -> None:
    plan = LoadPlan(villagers=100, messages=600, burst=200, seed=3, timeout=60)
    result = _run(config, db, tmp_path, plan)
    assert result.ok, result.summary()
    assert result.rows == plan.messages


def test_load_with_seeded_bot_api_faults(config: Config, db: Database, tmp_path: Path) -> None:
    plan = LoadPlan(villagers=50, messages=300, burst=50, rate=150, fault_rate=0.03, seed=5)
    result = _run(config, db, tmp_path, plan)
    assert sum(result.faults.values()) > 0
    assert result.ok, result.summary()


def test_sigkill_during_load_loses_nothing(config: Config, db: Database, tmp_path: Path) -> None:
    plan = LoadPlan(villagers=40, messages=240, burst=30, rate=100, kills=2, seed=9, timeout=90)
    result = _run(config, db, tmp_path, plan)
    assert result.kills == 2
    assert result.lost == 0, result.summary()
    assert result.duplicate_rows == 0
    assert result.bad_escalations == 0
    # A reply sent in the instant before the kill, not yet stamped replied_at, is sent again
    # (Telegram has no idempotent send): at most the updates in flight at each kill.
    assert result.duplicate_replies <= plan.kills * CONCURRENT_UPDATES, result.summary()


@pytest.mark.slow
def test_full_load_500_villagers_10000_messages(
    config: Config, db: Database, tmp_path: Path
) -> None:
    plan = LoadPlan(villagers=500, messages=10_000, burst=500, seed=1, timeout=900)
    result = _run(config, db, tmp_path, plan)
    assert result.ok, result.summary()


@pytest.mark.slow
def test_full_load_with_faults_and_kills(config: Config, db: Database, tmp_path: Path) -> None:
    plan = LoadPlan(
        villagers=500, messages=10_000, burst=500, fault_rate=0.02, kills=5, seed=2, timeout=900
    )
    result = _run(config, db, tmp_path, plan)
    assert result.lost == 0, result.summary()
    assert result.duplicate_rows == 0
    assert result.duplicate_replies <= plan.kills * CONCURRENT_UPDATES
