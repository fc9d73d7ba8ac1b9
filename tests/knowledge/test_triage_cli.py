"""`lawbot ask --json` carries the triage category of each line in `urgent`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from bot.cli.matching import register

KB_DIR = Path(__file__).resolve().parents[2] / "knowledge"


def test_ask_json_has_the_urgent_category_or_null(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(
        app,
        ["ask", "--kb", str(KB_DIR), "--json", "--no-semantic", "--cache-dir", str(tmp_path)],
        input="我家着火了 快来人\n老倌喝醉了又在打我\n邻居占了我家宅基地怎么办\n砍树要办证吗\n",
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    assert [obj["urgent"] for obj in lines] == ["fire", "domestic_violence", None, None]
    keys = {"question", "decision", "faq_id", "topic", "score", "answer", "basis", "suggestions"}
    for obj in lines:
        assert set(obj) == keys | {"urgent"}


def test_ask_with_one_question_argument(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(
        app,
        [
            "ask",
            "有人在村口砍认",
            "--kb",
            str(KB_DIR),
            "--json",
            "--no-semantic",
            "--cache-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["urgent"] == "violence"
