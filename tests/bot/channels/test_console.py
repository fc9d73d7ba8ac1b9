"""`lawbot chat` driven through stdin: the console channel goes through the same service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import select

from bot import texts
from knowledge.models import KnowledgeBase
from knowledge.triage import detect_risk
from storage.db import Database
from storage.models import Consultation, Villager

ROOT = Path(__file__).resolve().parents[3]


def _config(tmp_path: Path, db: Database) -> Path:
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    url = db.engine.url.render_as_string(hide_password=False)
    path = tmp_path / "config.toml"
    path.write_text(
        example.replace('url = "sqlite:///data/lawbot.sqlite3"', f'url = "{url}"'),
        encoding="utf-8",
    )
    return path


def _chat(config: Path, lines: list[str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "chat",
            "--config",
            str(config),
            "--no-semantic",
            *extra,
        ],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=config.parent,
    )


def test_a_typed_question_gets_a_chinese_answer_and_a_row(
    tmp_path: Path, db: Database, kb: KnowledgeBase
) -> None:
    entry = next(e for e in kb.entries if detect_risk(e.question, kb.triage) is None)
    run = _chat(
        _config(tmp_path, db),
        [entry.question, "1", "/quit"],
        "--village",
        "fanghu",
        "--user",
        "u1",
    )
    assert run.returncode == 0, run.stderr
    assert entry.answer.splitlines()[0] in run.stdout
    assert "谢谢您的反馈" in run.stdout  # "1" pressed 👍 under the answer
    with db.session() as session:
        row = session.exec(select(Consultation)).one()
        villager = session.exec(select(Villager)).one()
    assert (row.channel, row.decision, row.faq_id, row.village_code) == (
        "console",
        "answer",
        entry.id,
        "fanghu",
    )
    assert villager.channel_user_id == "u1"


def test_a_missing_config_file_is_one_clear_error(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--config", str(tmp_path / "missing.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    lines = [x for x in run.stderr.splitlines() if x.strip()]
    assert len(lines) == 1
    assert "missing.toml" in lines[0]


def test_a_misspelled_key_is_one_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[matching]\ntau_hgh = 0.5\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    lines = [x for x in run.stderr.splitlines() if x.strip()]
    assert len(lines) == 1
    assert "matching.tau_hgh" in lines[0]
    assert "tau_high" in lines[0]


def test_run_without_a_token_is_one_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LAWBOT_TOKEN"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            "--config",
            str(ROOT / "config.example.toml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode == 2
    lines = [x for x in run.stderr.splitlines() if x.strip()]
    assert len(lines) == 1
    assert "LAWBOT_TOKEN" in lines[0]


def test_gbk_bytes_and_invalid_utf8_get_a_note_and_are_stored(
    tmp_path: Path, db: Database
) -> None:
    lines = [
        "老板欠我工钱不给".encode("gbk"),
        b"\xff\xfe\xfa" + "欠条".encode(),
        "\x1b[2J\x1b]0;title\x07邻居占了我家宅基地".encode(),
        b"/quit",
    ]
    run = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--config", str(_config(tmp_path, db)),
         "--no-semantic", "--village", "fanghu"],
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )  # fmt: skip
    stdout = run.stdout.decode("utf-8")
    assert run.returncode == 0, run.stderr.decode("utf-8", "replace")
    assert texts.CONSOLE_DECODED_GBK in stdout
    assert texts.CONSOLE_UNREADABLE in stdout
    assert "\x1b" not in stdout
    with db.session() as session:
        stored = [c.raw_text for c in session.exec(select(Consultation)).all()]
    assert "老板欠我工钱不给" in stored
    assert any("欠条" in s for s in stored)
    assert "邻居占了我家宅基地" in stored, "control codes are stripped, the words kept"


def test_an_unreachable_database_is_one_line_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "postgresql://postgres@127.0.0.1:1/none"\n', "utf-8")
    for command in (["chat", "--no-semantic"], ["config", "check"]):
        run = subprocess.run(
            [sys.executable, "-m", "bot.cli", *command, "--config", str(config)],
            input="",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=tmp_path,
        )
        assert run.returncode == 2, (command, run.stdout, run.stderr)
        errors = [line for line in run.stderr.splitlines() if line.strip()]
        assert len(errors) == 1, errors
        assert "127.0.0.1:1/none" in errors[0]
        assert "Traceback" not in run.stderr
