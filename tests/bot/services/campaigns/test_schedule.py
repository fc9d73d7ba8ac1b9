"""Pure date rules: 12.4 and its week, lunar eve (29- and 30-day 12th months), quiet hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bot.services.campaign_config import CampaignDef, parse_anchor
from bot.services.campaign_schedule import (
    anchor_dates,
    in_quiet_hours,
    lunar_eve,
    occurrences,
    shift_out_of_quiet,
)

TZ = ZoneInfo("Asia/Shanghai")
QUIET = {"quiet_start": time(21, 0), "quiet_end": time(8, 0)}


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


def _year(schedule: tuple[CampaignDef, ...], name: str, year: int) -> list[tuple[str, datetime]]:
    chosen = [c for c in schedule if c.name == name]
    start, end = local(year, 1, 1), local(year + 1, 1, 1)
    return [
        (o.push_key, o.at.astimezone(TZ)) for o in occurrences(chosen, start, end, tz=TZ, **QUIET)
    ]


@pytest.mark.parametrize("year", [2026, 2027])
def test_constitution_day_times(schedule: tuple[CampaignDef, ...], year: int) -> None:
    assert _year(schedule, "constitution_day", year) == [
        ("constitution_day.week", local(year, 11, 27, 9, 0)),
        ("constitution_day.week3", local(year, 11, 29, 9, 0)),
        ("constitution_day.week5", local(year, 12, 1, 9, 0)),
        ("constitution_day.eve", local(year, 12, 3, 9, 0)),
        ("constitution_day.day", local(year, 12, 4, 8, 30)),
    ]


def test_constitution_day_in_utc(schedule: tuple[CampaignDef, ...]) -> None:
    chosen = [c for c in schedule if c.name == "constitution_day"]
    found = occurrences(chosen, local(2026, 12, 4), local(2026, 12, 5), tz=TZ, **QUIET)
    assert [o.at for o in found] == [datetime(2026, 12, 4, 0, 30, tzinfo=UTC)]
    assert found[0].job_id == "campaign:constitution_day.day:2026-12-04"


def test_national_security_day(schedule: tuple[CampaignDef, ...]) -> None:
    assert [w for _, w in _year(schedule, "national_security_day", 2027)] == [
        local(2027, 4, 8, 9, 0),
        local(2027, 4, 14, 9, 0),
        local(2027, 4, 15, 8, 30),
    ]


def test_lunar_eve_29_and_30_day_months() -> None:
    assert lunar_eve(2025) == date(2026, 2, 16)  # 腊月廿九
    assert lunar_eve(2026) == date(2027, 2, 5)
    assert lunar_eve(2023) == date(2024, 2, 9)  # 腊月三十
    assert anchor_dates("lunar:eve-1", 2026) == [date(2026, 2, 15)]
    assert anchor_dates("lunar:eve-1", 2027) == [date(2027, 2, 4)]
    assert anchor_dates("lunar:eve-1", 2024) == [date(2024, 2, 8)]
    assert anchor_dates("lunar:12-30", 2026) == []  # the 12th month of 2025 has 29 days
    assert anchor_dates("lunar:12-30", 2024) == [date(2024, 2, 9)]
    assert anchor_dates("lunar:01-15", 2026) == [date(2026, 3, 3)]  # 元宵


@pytest.mark.parametrize(
    ("year", "week", "eve"),
    [(2026, date(2026, 2, 9), date(2026, 2, 15)), (2027, date(2027, 1, 29), date(2027, 2, 4))],
)
def test_fireworks_before_new_year(
    schedule: tuple[CampaignDef, ...], year: int, week: date, eve: date
) -> None:
    assert _year(schedule, "fireworks", year) == [
        ("fireworks.week", datetime.combine(week, time(9, 0), tzinfo=TZ)),
        ("fireworks.eve", datetime.combine(eve, time(9, 0), tzinfo=TZ)),
    ]


def test_village_audience(schedule: tuple[CampaignDef, ...]) -> None:
    found = occurrences(
        [c for c in schedule if c.name == "forest_fire"],
        local(2027, 1, 1),
        local(2028, 1, 1),
        tz=TZ,
        **QUIET,
    )
    assert [(o.at.astimezone(TZ), o.villages) for o in found] == [
        (local(2027, 2, 3, 10, 0), ("xishan", "mashan"))
    ]


def test_quiet_hours() -> None:
    assert in_quiet_hours(time(21, 0), time(21, 0), time(8, 0))
    assert in_quiet_hours(time(2, 0), time(21, 0), time(8, 0))
    assert not in_quiet_hours(time(8, 0), time(21, 0), time(8, 0))
    assert not in_quiet_hours(time(20, 59), time(21, 0), time(8, 0))
    assert in_quiet_hours(time(13, 0), time(12, 0), time(14, 0))  # a midday rest
    assert not in_quiet_hours(time(13, 0), time(12, 0), time(12, 0))
    shift = shift_out_of_quiet
    assert shift(local(2026, 12, 3, 22, 30), **QUIET) == local(2026, 12, 4, 8, 0)
    assert shift(local(2026, 12, 3, 6, 0), **QUIET) == local(2026, 12, 3, 8, 0)
    assert shift(local(2026, 12, 3, 19, 0), **QUIET) == local(2026, 12, 3, 19, 0)


def test_push_in_quiet_hours_moves_to_morning() -> None:
    late = CampaignDef.model_validate(
        {
            "name": "late",
            "anchor": "annual:12-04",
            "pushes": [{"offset_days": -1, "time": "22:00", "message": "m"}],
        }
    )
    found = occurrences([late], local(2026, 12, 1), local(2026, 12, 10), tz=TZ, **QUIET)
    assert [(o.scheduled_for, o.at.astimezone(TZ)) for o in found] == [
        (date(2026, 12, 3), local(2026, 12, 4, 8, 0))
    ]


def test_fixed_and_cross_year_offsets() -> None:
    fixed = CampaignDef.model_validate(
        {
            "name": "fixed",
            "anchor": "fixed:2026-12-01",
            "pushes": [{"offset_days": 0, "time": "10:00", "message": "m"}],
        }
    )
    new_year = CampaignDef.model_validate(
        {
            "name": "ny",
            "anchor": "annual:01-03",
            "pushes": [{"offset_days": -7, "time": "10:00", "message": "m"}],
        }
    )
    found = occurrences([fixed, new_year], local(2026, 1, 1), local(2028, 1, 1), tz=TZ, **QUIET)
    assert [(o.push_key, o.scheduled_for) for o in found] == [
        ("fixed.p1", date(2026, 12, 1)),
        ("ny.p1", date(2026, 12, 27)),
        ("ny.p1", date(2027, 12, 27)),
    ]


@pytest.mark.parametrize("rule", ["annual:13-01", "annual:04-31", "lunar:eve+1", "weekly:mon", ""])
def test_bad_anchor(rule: str) -> None:
    with pytest.raises(ValueError, match=r"anchor|month|day"):
        parse_anchor(rule)
    with pytest.raises(ValidationError):
        CampaignDef.model_validate(
            {"name": "x1", "anchor": rule, "pushes": [{"time": "09:00", "message": "m"}]}
        )


def test_example_schedule_messages_exist(schedule: tuple[CampaignDef, ...], kb: object) -> None:
    ids = {m.id for m in kb.campaigns}  # type: ignore[attr-defined]
    assert {p.message for c in schedule for p in c.pushes} <= ids


def test_configured_schedule_is_the_example(
    config: object, schedule: tuple[CampaignDef, ...]
) -> None:
    """Once config.example.toml carries the [[campaigns.schedule]] block, it is this one."""
    configured = getattr(config.campaigns, "schedule", None)  # type: ignore[attr-defined]
    if configured is None:
        pytest.skip("bot.config.Campaigns has no `schedule` field yet")
    assert tuple(configured) == schedule
