"""Pydantic models of `[[campaigns.schedule]]`: which campaign, when (anchor rule), what and to whom.

Self-contained (no import of `bot.config`) so that `bot.config.Campaigns` can import it:

    [[campaigns.schedule]]
    name = "constitution_day"
    anchor = "annual:12-04"          # annual:MM-DD | fixed:YYYY-MM-DD | lunar:MM-DD | lunar:eve[-N]
    audience = "all"                 # or ["waihong", "shaofan"]
    pushes = [
      { key = "week", offset_days = -7, time = "09:00", message = "constitution-day-what-is" },
    ]
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["EXAMPLE_SCHEDULE_TOML", "CampaignDef", "PushDef", "parse_anchor", "parse_schedule"]

_NAME = re.compile(r"^[a-z0-9_]{2,40}$")
_KEY = re.compile(r"^[a-z0-9_]{1,24}$")
_ANCHOR = re.compile(
    r"^(?:annual:(?P<am>\d{2})-(?P<ad>\d{2})"
    r"|fixed:(?P<fixed>\d{4}-\d{2}-\d{2})"
    r"|lunar:(?:(?P<lm>\d{2})-(?P<ld>\d{2})|eve(?P<eve>-\d+)?))$"
)


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_anchor(rule: str) -> tuple[str, Any]:
    """Split an anchor rule into (kind, value); raise ValueError when malformed.

    annual:MM-DD → ("annual", (m, d)); fixed:YYYY-MM-DD → ("fixed", date);
    lunar:MM-DD → ("lunar", (m, d)); lunar:eve / lunar:eve-N → ("eve", -N) (除夕 minus N days).
    """
    match = _ANCHOR.match(rule.strip())
    if match is None:
        raise ValueError(
            f"anchor {rule!r}: use annual:MM-DD, fixed:YYYY-MM-DD, lunar:MM-DD or lunar:eve[-N]"
        )
    if match["am"]:
        month, day = int(match["am"]), int(match["ad"])
        date(2024, month, day)  # a leap year: 02-29 is allowed
        return "annual", (month, day)
    if match["fixed"]:
        return "fixed", date.fromisoformat(match["fixed"])
    if match["lm"]:
        month, day = int(match["lm"]), int(match["ld"])
        if not (1 <= month <= 12 and 1 <= day <= 30):
            raise ValueError(f"anchor {rule!r}: lunar month 1–12, day 1–30")
        return "lunar", (month, day)
    return "eve", int(match["eve"] or 0)


def _parse_clock(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value):
        hours, minutes = map(int, value.split(":"))
        return time(hours, minutes)
    return value


class PushDef(_Table):
    """One push of a campaign: days from the anchor, local time, KB message id."""

    key: str = ""  # short id inside the campaign (default p1, p2, ... by position)
    offset_days: int = Field(default=0, ge=-90, le=90)
    time: time
    message: str = Field(min_length=1, max_length=96)

    _clock = field_validator("time", mode="before")(_parse_clock)

    @field_validator("key")
    @classmethod
    def _short_key(cls, value: str) -> str:
        if value and not _KEY.match(value):
            raise ValueError("must be 1–24 lowercase letters, digits or _")
        return value


class CampaignDef(_Table):
    """[[campaigns.schedule]]: one campaign with its anchor date rule and pushes."""

    name: str
    title: str = ""
    anchor: str
    audience: Literal["all"] | tuple[str, ...] = "all"
    pushes: tuple[PushDef, ...] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be 2–40 lowercase letters, digits or _")
        return value

    @field_validator("anchor")
    @classmethod
    def _anchor(cls, value: str) -> str:
        parse_anchor(value)
        return value.strip()

    @model_validator(mode="after")
    def _keys(self) -> CampaignDef:
        keys = self.push_keys()
        if len(set(keys)) != len(keys):
            raise ValueError(f"campaign {self.name}: duplicate push keys")
        return self

    def push_keys(self) -> list[str]:
        """Return the full push keys `<name>.<key>` in order."""
        return [f"{self.name}.{p.key or f'p{i + 1}'}" for i, p in enumerate(self.pushes)]

    def villages(self) -> tuple[str, ...] | None:
        """Return the village codes of the audience, or None for all subscribers."""
        return None if self.audience == "all" else tuple(self.audience)


def parse_schedule(raw: str) -> tuple[CampaignDef, ...]:
    """Parse a TOML text holding `[[campaigns.schedule]]` tables (tests, the example block)."""
    import tomllib

    data = tomllib.loads(raw)
    return tuple(CampaignDef.model_validate(c) for c in data["campaigns"]["schedule"])


# The reference town's schedule, as pasted into config.example.toml (tests parse this text).
EXAMPLE_SCHEDULE_TOML = """
# 普法推送计划。anchor：annual:MM-DD 每年公历某天；fixed:YYYY-MM-DD 某一天；
# lunar:MM-DD 农历某天；lunar:eve 除夕（腊月最后一天，29 或 30），lunar:eve-1 除夕前一天。
# pushes：offset_days 相对 anchor 的天数，time 北京时间，message 知识库 campaigns/ 里的消息 id。
# audience："all" 全部订阅村民，或村代码列表。落在免打扰时段的推送顺延到 quiet_end。
# Publicity schedule: anchor rule, pushes (offset days, local time, KB message id), audience.
[[campaigns.schedule]]
name = "national_security_day"
title = "4·15全民国家安全教育日"
anchor = "annual:04-15"
audience = "all"
pushes = [
  { key = "week", offset_days = -7, time = "09:00", message = "national-security-day-everyone-duty" },
  { key = "eve", offset_days = -1, time = "09:00", message = "national-security-day-what-is" },
  { key = "day", offset_days = 0, time = "08:30", message = "national-security-day-report-12339" },
]

[[campaigns.schedule]]
name = "constitution_day"
title = "12·4国家宪法日（宪法宣传周）"
anchor = "annual:12-04"
audience = "all"
pushes = [
  { key = "week", offset_days = -7, time = "09:00", message = "constitution-day-what-is" },
  { key = "week3", offset_days = -5, time = "09:00", message = "constitution-day-rights-equality" },
  { key = "week5", offset_days = -3, time = "09:00", message = "constitution-day-land-collective" },
  { key = "eve", offset_days = -1, time = "09:00", message = "constitution-day-village-selfgov" },
  { key = "day", offset_days = 0, time = "08:30", message = "constitution-day-rights-personal-freedom" },
]

[[campaigns.schedule]]
name = "anti_fraud"
title = "1·10“110宣传日”防诈骗"
anchor = "annual:01-10"
audience = "all"
pushes = [
  { key = "day", offset_days = 0, time = "09:00", message = "anti-fraud-fake-police" },
  { key = "later", offset_days = 7, time = "09:00", message = "anti-fraud-elderly-family" },
]

[[campaigns.schedule]]
name = "ebike_charging"
title = "夏季电动车充电安全"
anchor = "annual:06-01"
audience = "all"
pushes = [
  { key = "june", offset_days = 0, time = "19:00", message = "ebike-charging-not-in-bedroom" },
  { key = "july", offset_days = 30, time = "19:00", message = "ebike-charging-no-flying-wire" },
  { key = "august", offset_days = 61, time = "19:00", message = "ebike-charging-not-in-corridor" },
]

[[campaigns.schedule]]
name = "fireworks"
title = "除夕前烟花爆竹安全"
anchor = "lunar:eve-1"
audience = "all"
pushes = [
  { key = "week", offset_days = -6, time = "09:00", message = "fireworks-buy-licensed-shop" },
  { key = "eve", offset_days = 0, time = "09:00", message = "fireworks-banned-places" },
]

[[campaigns.schedule]]
name = "forest_fire"
title = "林区春节防火"
anchor = "lunar:eve"
audience = ["xishan", "mashan"]
pushes = [
  { key = "eve", offset_days = -2, time = "10:00", message = "fireworks-mountain-fire" },
]
"""
