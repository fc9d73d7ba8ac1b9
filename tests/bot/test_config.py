"""Configuration: the example loads, and every mistake is one clear line naming key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
VILLAGES = [
    "外洪村",
    "邵畈村",
    "内洪村",
    "芳湖村",
    "曹溪村",
    "横桥村",
    "刘家村",
    "东港村",
    "新屋村",
    "程畈村",
    "马山村",
    "西山林场",
]


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_example_describes_the_reference_town() -> None:
    config = load_config(ROOT / "config.example.toml")
    assert config.town.name == "曹溪镇"
    assert config.town.timezone == "Asia/Shanghai"
    assert [v.name for v in config.villages] == VILLAGES
    assert all(v.advisor_id and v.backup_advisor_id for v in config.villages)
    assert len({v.code for v in config.villages}) == 12
    assert config.database.url.startswith("sqlite:///data/")
    assert config.telegram.base_url == "https://api.telegram.org/bot"


def test_without_any_config_file_the_example_defaults_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAWBOT_CONFIG", raising=False)
    config = load_config()
    assert len(config.villages) == 12


def test_lawbot_config_environment_variable_chooses_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, '[town]\nname = "测试镇"\n')
    monkeypatch.setenv("LAWBOT_CONFIG", str(path))
    assert load_config().town.name == "测试镇"


def test_explicit_file_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAWBOT_CONFIG", str(_write(tmp_path, '[town]\nname = "甲镇"\n')))
    other = tmp_path / "other.toml"
    other.write_text('[town]\nname = "乙镇"\n', encoding="utf-8")
    assert load_config(other).town.name == "乙镇"


def test_a_missing_explicit_file_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        load_config(Path("missing.toml"))


@pytest.mark.parametrize(
    ("body", "key", "hint"),
    [
        ("[matchng]\ntau_high = 0.5\n", "`matchng`", "matching"),
        ("[matching]\ntau_hihg = 0.5\n", "`matching.tau_hihg`", "tau_high"),
        (
            '[[villages]]\nname = "甲村"\ncode = "jia"\nadvisr_id = 1\n',
            "`villages[1].advisr_id`",
            "advisor_id",
        ),
    ],
)
def test_a_misspelled_key_is_named_with_a_suggestion(
    tmp_path: Path, body: str, key: str, hint: str
) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message
    assert key in message
    assert str(path) in message
    assert hint in message


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('[[villages]]\nname = "甲村"\n', "villages[1].code"),
        ('[[villages]]\nname = "甲村"\ncode = "Jia Cun"\n', "villages[1].code"),
        ('[town]\ntimezone = "Mars/Olympus"\n', "town.timezone"),
        ('[sla]\nquiet_start = "25:00"\n', "sla.quiet_start"),
        ("[sla]\nremind_hours = 30\nbackup_hours = 24\n", "sla"),
        ("[matching]\ntau_high = 1.5\n", "matching.tau_high"),
        ('[database]\nurl = "mysql://x"\n', "database.url"),
        (
            '[[villages]]\nname = "甲村"\ncode = "jia"\n[[villages]]\nname = "乙村"\ncode = "jia"\n',
            "villages",
        ),
    ],
)
def test_a_wrong_value_is_one_line_naming_the_key(tmp_path: Path, body: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, body))
    message = str(caught.value)
    assert "\n" not in message
    assert f"`{key}`" in message


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[town\nname=")
    with pytest.raises(ConfigError, match=r"invalid TOML"):
        load_config(path)
