"""Structured JSON logs: the formatter, the update key bound by the HTTP conversation path, and a
real `lawbot serve --log-json` process (health, readiness, metrics, the scheduler leader line)."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.channels.http import ApiKeys, build_http_app
from bot.channels.http.keys import ENV_KEY
from bot.channels.logs import JsonFormatter, bound_update_key, use_json_logs
from bot.services.consultation import ConsultationService
from bot.wiring import services_for
from knowledge.models import Entry
from storage.db import Database
from tests.bot.channels.http.conftest import client_for
from tests.conftest import ROOT, postgres_url

FIELDS = {"time", "level", "logger", "message"}


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("坏了\nsecond line")
        except ValueError:
            info = sys.exc_info()
    return logging.LogRecord("bot.test", logging.WARNING, __file__, 1, message, args, info)


def test_a_record_is_one_json_line_with_time_level_logger_message() -> None:
    line = JsonFormatter().format(_record("咨询 %s\n第二行\u2028第三段", 42))
    assert "\n" not in line
    assert len(line.splitlines()) == 1  # str.splitlines also cuts at U+2028
    body = json.loads(line)
    assert set(body) == FIELDS
    assert body["level"] == "WARNING"
    assert body["logger"] == "bot.test"
    assert body["message"] == "咨询 42\n第二行\u2028第三段"
    assert body["time"].endswith("+00:00")
    assert "咨询" in line  # Chinese stays readable, not \u-escaped


def test_the_bound_update_key_rides_along_and_is_gone_after_the_block() -> None:
    formatter = JsonFormatter()
    with bound_update_key("http:web:m1"):
        inside = json.loads(formatter.format(_record("inside")))
    outside = json.loads(formatter.format(_record("outside")))
    assert inside["update_key"] == "http:web:m1"
    assert "update_key" not in outside


def test_a_traceback_stays_inside_the_one_line() -> None:
    line = JsonFormatter().format(_record("failed", exc=True))
    assert len(line.splitlines()) == 1
    body = json.loads(line)
    assert "ValueError: 坏了" in body["exc"]
    assert "Traceback" in body["exc"]


@pytest.fixture(name="json_logs")
def json_logs_fixture() -> Iterator[io.StringIO]:
    """The root logger writing JSON into a buffer; the previous handlers restored after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    use_json_logs(logging.INFO, stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


async def test_the_http_path_tags_the_services_log_lines_with_the_update_key(
    service: ConsultationService, json_logs: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)
    keys = ApiKeys(service.db, clock=service.clock)
    app = build_http_app(services_for(service), keys=keys)
    question = service.kb.entries[0].question
    async with client_for(app, keys.create("web")) as client:
        sent = await client.post(
            "/api/v1/messages", json={"user": "u1", "text": question, "message_id": "m-77"}
        )
        plain = await client.post("/api/v1/messages", json={"user": "u2", "text": question})
    assert sent.status_code == plain.status_code == 200
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    recorded = [b for b in lines if b["message"].startswith("consultation ")]
    assert len(recorded) == 2
    assert recorded[0]["update_key"] == "http:web:m-77"
    assert recorded[0]["logger"] == "bot.services.consultation"
    assert "update_key" not in recorded[1]  # no message id, no key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _json_lines(path: Path) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is one JSON object


def test_lawbot_serve_log_json_writes_only_json_lines_and_serves_health_and_metrics(
    db: Database, tmp_path: Path, kb_question: str
) -> None:
    url = postgres_url() or db.url
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    config = example.replace('url = "sqlite:///data/lawbot.sqlite3"', f'url = "{url}"')
    config = config.replace("semantic = true", "semantic = false")
    assert f'url = "{url}"' in config
    (tmp_path / "config.toml").write_text(config, encoding="utf-8")
    key = ApiKeys(db, env_key=None).create("web")
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "LAWBOT_WEB_SECRET": "x" * 40, "LAWBOT_TOKEN": ""}
    env.pop(ENV_KEY, None)
    lawbot = [sys.executable, "-m", "bot.cli"]
    command = [
        *lawbot,
        "serve",
        "--log-json",
        "--listen",
        f"127.0.0.1:{port}",
        "-c",
        "config.toml",
    ]
    with log.open("w", encoding="utf-8") as err:
        server = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=err)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, log.read_text(encoding="utf-8")[-2000:]
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "lawbot serve did not get ready"
            time.sleep(0.3)
        assert httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "alive"}
        answer = httpx.post(
            f"{base}/api/v1/messages",
            json={"user": "u1", "text": kb_question, "message_id": "serve-1"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert answer.status_code == 200
        scraped = httpx.get(f"{base}/metrics", timeout=10).text
        assert 'lawbot_messages_total{channel="http"' in scraped
        assert "lawbot_scheduler_leader 1.0" in scraped
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    lines = _json_lines(log)
    assert all(set(line) >= FIELDS for line in lines)
    messages = [(line["logger"], line["message"]) for line in lines]
    assert any(logger.startswith("uvicorn") for logger, _ in messages)  # uvicorn's own lines too
    assert any(m.startswith("scheduler leader") for _, m in messages)
    tagged = [line for line in lines if line.get("update_key") == "http:web:serve-1"]
    assert any(line["message"].startswith("consultation ") for line in tagged)


@pytest.fixture(name="kb_question")
def kb_question_fixture(service: ConsultationService) -> str:
    """A question of the shipped KB the matcher answers outright."""
    entry: Entry = next(
        e for e in service.kb.entries if service.matcher.match(e.question).decision == "answer"
    )
    return entry.question
