"""`lawbot bench-http`: the HTTP JSON API under load, through a real uvicorn server on 127.0.0.1.

Two phases against one server over the shipped KB and a scratch database: a paced phase (an open
loop at `rate` messages per second for `seconds`, each message its own request, so a slow reply
does not slow the sender) gives the latency villagers see at that load; a flat-out phase
(`concurrency` clients back to back) gives the sustained throughput. Messages go to `users`
app users in turn, each with a `message_id`, so every one is stored exactly once.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from bot.config import Config
from bot.ops.benchmarks import nearest_percentile

__all__ = ["HttpBench", "Phase", "bench_http"]


@dataclass(frozen=True)
class Phase:
    """One phase's outcome: requests, errors, wall time and latency in milliseconds."""

    name: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        """Completed requests per second."""
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        """One printed line."""
        return (
            f"{self.name:<10} {self.requests:>6} requests  {self.errors:>4} errors  "
            f"{self.per_second:>7.1f} msg/s  p50 {self.p50_ms:>7.1f} ms  p99 {self.p99_ms:>7.1f} ms"
        )


@dataclass(frozen=True)
class HttpBench:
    """Both phases and the backend they ran on."""

    backend: str
    semantic: bool
    paced: Phase
    flat: Phase

    def summary(self) -> str:
        """The printed report."""
        return "\n".join(
            [
                f"bench-http: database {self.backend}, semantic={self.semantic}",
                self.paced.line(),
                self.flat.line(),
            ]
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_http(
    config: Config,
    *,
    database_url: str | None = None,
    rate: float = 50.0,
    seconds: float = 20.0,
    flat_messages: int = 1000,
    concurrency: int = 16,
    users: int = 200,
    semantic: bool | None = None,
) -> HttpBench:
    """Run both phases against a fresh server; the scratch SQLite file is removed afterwards."""
    from bot.channels.http import ApiKeys, build_http_app
    from bot.wiring import build_services, open_database

    with tempfile.TemporaryDirectory(prefix="lawbot-bench-http-") as scratch:
        url = database_url or f"sqlite:///{Path(scratch) / 'bench.sqlite3'}"
        cfg = config.model_copy(
            update={
                "database": config.database.model_copy(update={"url": url}),
                "conversation": config.conversation.model_copy(
                    update={"max_messages_per_minute": 600}
                ),
                "http": config.http.model_copy(
                    update={
                        "user_requests_per_minute": 10_000,
                        "key_requests_per_minute": 1_000_000,
                    }
                ),
            }
        )
        db = open_database(cfg)
        services = build_services(cfg, db=db, semantic=semantic)
        keys = ApiKeys(db, env_key=None)
        key = keys.create(f"b{int(time.time()) % 100_000}")
        app = build_http_app(services, keys=keys)
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        thread = threading.Thread(target=server.run, name="bench-http-server", daemon=True)
        thread.start()
        try:
            while not server.started:
                time.sleep(0.02)
            questions = [p for e in services.consultation.kb.entries for p in e.phrasings[:3]]
            paced, flat = asyncio.run(
                _drive(
                    f"http://127.0.0.1:{port}",
                    key,
                    questions,
                    rate=rate,
                    seconds=seconds,
                    flat_messages=flat_messages,
                    concurrency=concurrency,
                    users=users,
                )
            )
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            db.dispose()
        return HttpBench(db.backend, services.consultation.matcher.settings.semantic, paced, flat)


async def _drive(
    base: str,
    key: str,
    questions: list[str],
    *,
    rate: float,
    seconds: float,
    flat_messages: int,
    concurrency: int,
    users: int,
) -> tuple[Phase, Phase]:
    limits = httpx.Limits(max_connections=max(concurrency, 256), max_keepalive_connections=64)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=60
    ) as client:
        counter = iter(range(10**9))

        async def one(latencies: list[float], errors: list[int]) -> None:
            n = next(counter)
            body = {
                "user": f"u{n % users}",
                "text": questions[n % len(questions)],
                "message_id": f"m{n}",
            }
            started = time.perf_counter()
            try:
                response = await client.post("/api/v1/messages", json=body)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            if not ok:
                errors.append(n)

        await one([], [])  # warm the connection and the first-request paths
        paced_lat: list[float] = []
        paced_err: list[int] = []
        total = max(1, int(rate * seconds))
        tasks = []
        started = time.perf_counter()
        for i in range(total):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(paced_lat, paced_err)))
        await asyncio.gather(*tasks)
        paced = _phase("paced", paced_lat, paced_err, time.perf_counter() - started)

        flat_lat: list[float] = []
        flat_err: list[int] = []
        remaining = iter(range(flat_messages))

        async def worker() -> None:
            for _ in remaining:
                await one(flat_lat, flat_err)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        flat = _phase("flat-out", flat_lat, flat_err, time.perf_counter() - started)
    return paced, flat


def _phase(name: str, latencies: list[float], errors: list[int], seconds: float) -> Phase:
    return Phase(
        name,
        len(latencies),
        len(errors),
        seconds,
        statistics.median(latencies) if latencies else 0.0,
        nearest_percentile(latencies, 0.99),
    )
