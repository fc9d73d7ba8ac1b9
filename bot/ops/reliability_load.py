"""Load and crash scenario: villagers in bursts through the real bot, faults, SIGKILL, invariants.

The bot runs as a real subprocess (`python -m bot.ops.reliability_load serve ...`): the PTB
Application with the update journal, polling the Bot API emulator of the test suite that runs in
this process on 127.0.0.1 (so the emulator's CPU is not the bot's). Villagers are created up
front, bound to the configured villages, and send FAQ questions the bot answers with exactly one
message. Optionally the emulator injects seeded faults (429, 500, 502, connection resets,
timeouts) and the bot is killed with SIGKILL at random moments and restarted.

Checked afterwards (`LoadResult`):
* lost: messages handed to the bot without exactly one consultation row, or without a reply;
* duplicated: replies beyond one per message, rows beyond one per update;
* every escalation in a valid state.
Reply latency pairs the k-th message of a chat with the k-th reply to it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.ops.benchmarks import nearest_percentile

__all__ = ["LoadPlan", "LoadResult", "run_load"]

FIRST_USER = 910_000_000
IN_FLIGHT = 8  # build_application(...).concurrent_updates(8)
VALID_STATES = {"open", "claimed", "answered", "closed", "reassigned"}


@dataclass(frozen=True)
class LoadPlan:
    """What to send and which faults to inject."""

    villagers: int = 500
    messages: int = 10_000
    burst: int = 500
    rate: float = 0.0  # messages per second on average (0: bursts back to back)
    fault_rate: float = 0.0  # per Bot API call, seeded
    kills: int = 0  # SIGKILL the bot this many times during the load
    seed: int = 1
    semantic: bool = False
    timeout: float = 600.0


@dataclass
class LoadResult:
    """The invariants and the timing of one run."""

    backend: str
    plan: LoadPlan
    sent: int = 0
    rows: int = 0
    lost_rows: int = 0
    duplicate_rows: int = 0
    lost_replies: int = 0
    duplicate_replies: int = 0
    bad_escalations: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    kills: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.lost_rows + self.lost_replies

    @property
    def duplicated(self) -> int:
        return self.duplicate_rows + self.duplicate_replies

    @property
    def ok(self) -> bool:
        """Nothing lost, no row twice, escalations valid; replies repeat only in a kill's window.

        A reply sent in the instant before a SIGKILL, not yet stamped `replied_at`, is sent again
        after the restart (the Bot API has no idempotent send): at most the updates in flight.
        """
        window = self.kills * IN_FLIGHT
        return (
            not (self.lost or self.duplicate_rows or self.bad_escalations)
            and self.duplicate_replies <= window
        )

    @property
    def per_second(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        faults = sum(self.faults.values())
        return (
            f"{self.backend}: {self.sent} messages from {self.plan.villagers} villagers, "
            f"faults injected {faults} ({', '.join(f'{k} {v}' for k, v in self.faults.items())}), "
            f"SIGKILL {self.kills}; lost {self.lost} (rows {self.lost_rows}, replies "
            f"{self.lost_replies}), duplicated {self.duplicated} (rows {self.duplicate_rows}, "
            f"replies {self.duplicate_replies}), bad escalations {self.bad_escalations}; "
            f"{self.per_second:.0f} messages/s, reply latency p50 {self.p50_ms:.1f} ms, "
            f"p99 {self.p99_ms:.1f} ms" + ("".join(f"\n  {n}" for n in self.notes))
        )


# --- the bot subprocess ------------------------------------------------------------------------


def serve(spec_path: str) -> None:
    """Run the bot against the emulator described in a JSON spec (the subprocess side)."""
    import logging

    from bot.channels.telegram import build_application, reliability
    from bot.wiring import build_services, open_database

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    config = Config.model_validate_json(spec["config"])
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    db = open_database(config, spec["database_url"])
    services = build_services(config, db=db, semantic=spec["semantic"])
    application = build_application(services, spec["token"], rate_limit=False)
    reliability.install(application, Path(spec["journal"]), replay_every=1.0)
    print("serving", flush=True)
    application.run_polling(poll_interval=0.0, timeout=1, close_loop=True)


def _start_bot(spec_path: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PTB_TIMEDELTA="1", PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.ops.reliability_load", "serve", str(spec_path)],
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "serving" not in line:
        process.kill()
        raise RuntimeError(f"the bot did not start: {line!r}")
    return process


# --- the driver --------------------------------------------------------------------------------


def run_load(
    config: Config, plan: LoadPlan, *, database_url: str | None = None, workdir: Path | None = None
) -> LoadResult:
    """Run the scenario and check the invariants (a fresh SQLite file unless a URL is given)."""
    root = Path(__file__).resolve().parent.parent
    if (root / "tests" / "emulator.py").is_file() and str(root) not in sys.path:
        sys.path.append(str(root))  # `lawbot` from an editable install of a source checkout
    try:
        from bot.ops.telegram_emulator import Emulator
    except ImportError as exc:  # pragma: no cover - only outside a source checkout
        raise RuntimeError(
            "bench-load needs bot/ops/telegram_emulator.py (a source checkout)"
        ) from exc
    from bot.wiring import load_knowledge, match_settings, open_database
    from knowledge.matcher import Matcher

    own_dir = tempfile.TemporaryDirectory(prefix="lawbot-load-") if workdir is None else None
    work = Path(own_dir.name) if own_dir is not None else workdir
    assert work is not None
    url = _absolute(database_url) if database_url else f"sqlite:///{work / 'load.sqlite3'}"
    db = open_database(config, url)
    rng = random.Random(plan.seed)
    first_update = int(time.time() * 1000) % 10**12 + 1  # unique per run: shares a database
    first_user = FIRST_USER + (time.time_ns() // 1000) % 10**6 * 1000  # unique per run too
    emulator = Emulator(seed=plan.seed, first_update_id=first_update)
    base = emulator.start()
    result = LoadResult(backend=db.backend, plan=plan)
    process: subprocess.Popen[str] | None = None
    try:
        kb = load_knowledge(config)
        matcher = Matcher(kb, match_settings(config, semantic=False))
        questions = _plain_questions(kb, matcher)
        users = [first_user + i for i in range(plan.villagers)]
        _seed_villagers(db, config, users)
        cfg = _bench_config(config, base)
        spec = work / "spec.json"
        spec.write_text(
            json.dumps(
                {
                    "config": cfg.model_dump_json(),
                    "database_url": url,
                    "journal": str(work / "journal"),
                    "token": "1:LOAD",
                    "semantic": plan.semantic,
                }
            ),
            encoding="utf-8",
        )
        if plan.fault_rate:
            emulator.chaos("sendMessage", plan.fault_rate)
            emulator.chaos("getUpdates", plan.fault_rate / 2)
        process = _start_bot(spec)
        kill_at = sorted(rng.sample(range(1, plan.messages), plan.kills)) if plan.kills else []
        expected: Counter[int] = Counter()
        pushed: dict[int, list[float]] = {}
        update_ids: list[int] = []
        started = time.monotonic()
        for i in range(plan.messages):
            user = users[rng.randrange(len(users))]
            at = time.monotonic()
            update_ids.append(emulator.send_text(user, questions[rng.randrange(len(questions))]))
            expected[user] += 1
            pushed.setdefault(user, []).append(at)
            if kill_at and i == kill_at[0]:
                kill_at.pop(0)
                time.sleep(rng.uniform(0.0, 0.3))  # a random point of the processing
                process.send_signal(signal.SIGKILL)
                process.wait()
                result.kills += 1
                process = _start_bot(spec)
            if (i + 1) % plan.burst == 0:
                if plan.rate:
                    time.sleep(max(0.0, started + (i + 1) / plan.rate - time.monotonic()))
                else:
                    time.sleep(0.001)
        result.sent = plan.messages
        deadline = time.monotonic() + plan.timeout

        def replies() -> int:
            return len(emulator.sent("sendMessage"))

        while replies() < plan.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        last_reply = max((c.at for c in emulator.calls if c.method == "sendMessage"), default=0)
        result.seconds = max(last_reply - started, 1e-9)
        time.sleep(1.5)  # late duplicates, if any, would show up now
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        process = None
        result.faults = emulator.injected()
        _check(result, db, emulator, expected, pushed, update_ids)
    finally:
        if process is not None:
            process.kill()
            process.wait()
        emulator.stop()
        db.dispose()
        if own_dir is not None:
            own_dir.cleanup()
    return result


def _absolute(url: str) -> str:
    """A SQLite URL with an absolute path (the bot subprocess runs in another directory)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return url
    if parsed.database == ":memory:":
        raise ValueError("bench-load needs a database both processes can open, not :memory:")
    path = Path(parsed.database).expanduser().resolve()
    return parsed.set(database=str(path)).render_as_string(hide_password=False)


def _bench_config(config: Config, base: str) -> Config:
    telegram = config.telegram.model_copy(update={"base_url": base, "base_file_url": base})
    conversation = config.conversation.model_copy(update={"max_messages_per_minute": 600})
    return config.model_copy(update={"telegram": telegram, "conversation": conversation})


def _plain_questions(kb: Any, matcher: Any) -> list[str]:
    from knowledge.triage import detect_risk

    out = []
    for entry in kb.entries:
        if detect_risk(entry.question, kb.triage) is not None:
            continue
        result = matcher.match(entry.question)
        if result.decision == "answer" and result.entry is not None:
            out.append(entry.question)
    return out


def _seed_villagers(db: Any, config: Config, users: list[int]) -> None:
    from sqlalchemy import insert

    from storage.clock import utcnow
    from storage.models import Villager
    from storage.repositories import pseudonym

    codes: list[str | None] = [v.code for v in config.villages] or [None]
    now = utcnow()
    rows = [
        {
            "channel": "telegram",
            "channel_user_id": str(u),
            "chat_id": str(u),
            "label": pseudonym("telegram", str(u)),
            "village_code": codes[i % len(codes)],
            "role": "villager",
            "subscribed": True,
            "elder_mode": False,
            "active": True,
            "consent_at": now,
            "created_at": now,
            "last_seen_at": now,
        }
        for i, u in enumerate(users)
    ]
    with db.session() as session:
        session.execute(insert(Villager), rows)


def _check(
    result: LoadResult,
    db: Any,
    emulator: Any,
    expected: Counter[int],
    pushed: dict[int, list[float]],
    update_ids: list[int],
) -> None:
    from sqlalchemy import func
    from sqlmodel import col, select

    from storage.models import Consultation, Escalation

    keys = [f"tg:{u}" for u in update_ids]
    counts: Counter[str] = Counter()
    with db.session() as session:
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            statement = (
                select(Consultation.update_key, func.count())
                .where(col(Consultation.update_key).in_(chunk))
                .group_by(col(Consultation.update_key))
            )
            for key, n in session.exec(statement).all():
                counts[str(key)] += int(n)
        states = session.exec(select(Escalation.state)).all()
    result.rows = sum(counts.values())
    result.lost_rows = sum(1 for k in keys if counts[k] == 0)
    result.duplicate_rows = sum(n - 1 for n in counts.values() if n > 1)
    result.bad_escalations = sum(1 for s in states if s not in VALID_STATES)
    sent_at: dict[int, list[float]] = {}
    for call in emulator.calls:
        if call.method == "sendMessage" and call.ok and "chat_id" in call.params:
            sent_at.setdefault(int(call.params["chat_id"]), []).append(call.at)
        elif call.method == "sendMessage" and call.ok:
            result.notes.append("a sendMessage without chat_id was accepted by the emulator")
    latencies: list[float] = []
    for user, n in expected.items():
        got = sent_at.get(user, [])
        result.lost_replies += max(0, n - len(got))
        result.duplicate_replies += max(0, len(got) - n)
        latencies += [(reply - ask) * 1000 for ask, reply in zip(pushed[user], got, strict=False)]
    strangers = set(sent_at) - set(expected)
    if strangers:
        result.notes.append(f"replies to {len(strangers)} chats that sent nothing")
    result.p50_ms = statistics.median(latencies) if latencies else 0.0
    result.p99_ms = nearest_percentile(latencies, 0.99)


if __name__ == "__main__":  # pragma: no cover - the bot subprocess
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        sys.exit("usage: python -m bot.ops.reliability_load serve SPEC.json")
