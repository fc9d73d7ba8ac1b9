"""A real subprocess broadcasting to the emulator is killed with SIGKILL mid-broadcast and
restarted: nobody gets the push twice, and the rest is delivered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlmodel import select

from bot.ops.telegram_emulator import Emulator
from storage.campaign_models import CampaignDelivery, CampaignRun, RunState
from storage.db import Database
from tests.bot.services.campaigns.conftest import add_villagers

ROOT = Path(__file__).resolve().parents[4]
SUBSCRIBERS = 500


def _worker(db: Database, emulator: Emulator) -> subprocess.Popen[bytes]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.bot.services.campaigns.crash_worker",
            db.url,
            emulator.base_url,
            "200",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _states(db: Database) -> Counter[str]:
    with db.session() as session:
        return Counter(d.state for d in session.exec(select(CampaignDelivery)).all())


def test_sigkill_mid_broadcast_then_restart(db: Database, emulator: Emulator) -> None:
    chats = set(add_villagers(db, SUBSCRIBERS, villages=("waihong", "caoxi")))
    first = _worker(db, emulator)
    deadline = time.monotonic() + 30
    while len(emulator.sent()) < SUBSCRIBERS // 3:
        assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
        assert time.monotonic() < deadline, "the worker did not start sending"
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL
    sent_before = len(emulator.sent())
    states = _states(db)
    assert sum(states.values()) == SUBSCRIBERS  # every delivery row was written before sending
    assert states["pending"] > 0, "killed too late to test anything"
    assert sent_before < SUBSCRIBERS

    second = _worker(db, emulator)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err.decode()
    assert b"resuming run" in out

    # a request cut off by the kill can reach the emulator without its body: not a delivery
    ok = Counter(int(p["chat_id"]) for p in emulator.sent() if "chat_id" in p)
    assert max(ok.values()) == 1, "a villager got the push twice"
    states = _states(db)
    assert set(states) <= {"sent", "failed"}
    assert sum(states.values()) == SUBSCRIBERS
    # rows in flight at the kill are recorded failed (outcome unknown), never re-sent
    assert states["failed"] <= 16
    with db.session() as session:
        rows = session.exec(select(CampaignDelivery)).all()
        run = session.exec(
            select(CampaignRun).where(CampaignRun.push_key == "constitution_day.day")
        ).one()
    failed = {int(d.chat_id) for d in rows if d.state == "failed"}
    assert all("interrupted" in (d.error or "") for d in rows if d.state == "failed")
    assert {int(d.chat_id) for d in rows if d.state == "sent"} <= set(ok)
    assert set(ok) | failed == chats  # everyone got it, except in-flight rows (maybe got it)
    assert run.state == RunState.DONE

    # a third start sends nothing more
    third = _worker(db, emulator)
    third.communicate(timeout=60)
    assert third.returncode == 0
    assert sum(1 for p in emulator.sent() if "chat_id" in p) == len(ok)
