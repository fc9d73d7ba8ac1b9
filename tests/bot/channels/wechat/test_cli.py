"""`lawbot wechat menu` against the WeChat API emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import texts
from bot.cli.main import app
from bot.ops.wechat_emulator import WechatEmulator

runner = CliRunner()


@pytest.fixture(name="config_file")
def config_file_fixture(emulator: WechatEmulator, tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[wechat]\napi_base_url = "{emulator.base_url}"\n', encoding="utf-8")
    return path


def test_menu_creates_the_three_buttons(
    config_file: Path, emulator: WechatEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAWBOT_WECHAT_APP_ID", emulator.app_id)
    monkeypatch.setenv("LAWBOT_WECHAT_SECRET", emulator.secret)
    result = runner.invoke(app, ["wechat", "menu", "--config", str(config_file)])
    assert result.exit_code == 0, result.stderr
    assert "menu created" in result.stdout
    (created,) = emulator.menus
    names = [b["name"] for b in created["button"]]
    assert names == [texts.WECHAT_MENU_CONSULT, texts.WECHAT_MENU_LEARN, texts.WECHAT_MENU_ADVISOR]
    assert {b["type"] for b in created["button"]} == {"click"}


def test_menu_without_the_secret_says_so_in_one_line(
    config_file: Path, emulator: WechatEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAWBOT_WECHAT_APP_ID", emulator.app_id)
    monkeypatch.delenv("LAWBOT_WECHAT_SECRET", raising=False)
    result = runner.invoke(app, ["wechat", "menu", "--config", str(config_file)])
    assert result.exit_code == 2
    assert "LAWBOT_WECHAT_SECRET" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert emulator.menus == []


def test_menu_with_a_wrong_secret_fails_in_one_line(
    config_file: Path, emulator: WechatEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAWBOT_WECHAT_APP_ID", emulator.app_id)
    monkeypatch.setenv("LAWBOT_WECHAT_SECRET", "wrong")
    result = runner.invoke(app, ["wechat", "menu", "--config", str(config_file)])
    assert result.exit_code == 2
    assert "40125" in result.stderr
    assert emulator.menus == []
