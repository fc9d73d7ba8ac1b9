"""Pure date rules of campaigns: anchor → dates of a year, push offsets, quiet hours (no I/O).

Lunar dates use `lunar_python` (除夕 is the last day of the 12th lunar month: 29 or 30).
Times are local to the town (Asia/Shanghai); results are aware datetimes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from lunar_python import Lunar, LunarYear

from bot.services.campaign_config import CampaignDef, parse_anchor

__all__ = [
    "Occurrence",
    "anchor_dates",
    "in_quiet_hours",
    "lunar_eve",
    "occurrences",
    "shift_out_of_quiet",
]


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One push of one campaign on one day: when it goes out and with what."""

    campaign: str
    push_key: str
    message_id: str
    anchor: date
    scheduled_for: date  # local date of the push as configured (before the quiet-hours shift)
    at: datetime  # aware UTC time it goes out
    villages: tuple[str, ...] | None  # None: all subscribers

    @property
    def job_id(self) -> str:
        """Deterministic job id for the JobQueue."""
        return f"campaign:{self.push_key}:{self.scheduled_for.isoformat()}"


def lunar_eve(lunar_year: int) -> date:
    """Return 除夕 (the last day of the 12th month) of a lunar year as a solar date."""
    days = LunarYear.fromYear(lunar_year).getMonth(12).getDayCount()
    return _solar(Lunar.fromYmd(lunar_year, 12, days))


def _solar(lunar: Lunar) -> date:
    solar = lunar.getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def _lunar_date(lunar_year: int, month: int, day: int) -> date | None:
    days = LunarYear.fromYear(lunar_year).getMonth(month).getDayCount()
    if day > days:
        return None  # e.g. 腊月三十 in a year whose 12th month has 29 days
    return _solar(Lunar.fromYmd(lunar_year, month, day))


def anchor_dates(rule: str, year: int) -> list[date]:
    """Return the anchor dates of a rule that fall in the solar year `year`."""
    kind, value = parse_anchor(rule)
    if kind == "annual":
        month, day = value
        try:
            return [date(year, month, day)]
        except ValueError:  # 02-29 outside leap years
            return []
    if kind == "fixed":
        return [value] if value.year == year else []
    found: list[date] = []
    for lunar_year in (year - 1, year):
        if kind == "eve":
            candidate: date | None = lunar_eve(lunar_year) + timedelta(days=value)
        else:
            candidate = _lunar_date(lunar_year, *value)
        if candidate is not None and candidate.year == year:
            found.append(candidate)
    return sorted(found)


def in_quiet_hours(moment: time, quiet_start: time, quiet_end: time) -> bool:
    """Tell whether a local clock time lies in [quiet_start, quiet_end) (may wrap midnight)."""
    if quiet_start == quiet_end:
        return False
    if quiet_start < quiet_end:
        return quiet_start <= moment < quiet_end
    return moment >= quiet_start or moment < quiet_end


def shift_out_of_quiet(local: datetime, quiet_start: time, quiet_end: time) -> datetime:
    """Move a local datetime inside quiet hours to the end of them (the next morning if needed)."""
    if not in_quiet_hours(local.timetz().replace(tzinfo=None), quiet_start, quiet_end):
        return local
    end = local.replace(
        hour=quiet_end.hour, minute=quiet_end.minute, second=0, microsecond=0, fold=0
    )
    if end <= local:
        end = (local + timedelta(days=1)).replace(
            hour=quiet_end.hour, minute=quiet_end.minute, second=0, microsecond=0
        )
    return end


def occurrences(
    campaigns: Iterable[CampaignDef],
    start: datetime,
    end: datetime,
    *,
    tz: ZoneInfo,
    quiet_start: time,
    quiet_end: time,
) -> list[Occurrence]:
    """Return every push going out in [start, end) (aware datetimes), in time order."""
    found: list[Occurrence] = []
    first, last = start.astimezone(tz).year, end.astimezone(tz).year
    for campaign in campaigns:
        keys = campaign.push_keys()
        for year in range(first - 1, last + 2):
            for anchor in anchor_dates(campaign.anchor, year):
                for key, push in zip(keys, campaign.pushes, strict=True):
                    day = anchor + timedelta(days=push.offset_days)
                    local = datetime.combine(day, push.time, tzinfo=tz)
                    at = shift_out_of_quiet(local, quiet_start, quiet_end).astimezone(UTC)
                    if start <= at < end:
                        found.append(
                            Occurrence(
                                campaign=campaign.name,
                                push_key=key,
                                message_id=push.message,
                                anchor=anchor,
                                scheduled_for=day,
                                at=at,
                                villages=campaign.villages(),
                            )
                        )
    return sorted(found, key=lambda o: (o.at, o.push_key))
