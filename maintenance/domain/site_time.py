"""A site's local time: its time zone, its calendar months, and times shown in it.

Storage and SLA maths stay in UTC; only what people read (a page, a month's figures) is
in the site's zone, named by an IANA key such as ``Asia/Shanghai`` (the default: the
compounds this serves are in China). A month is the site's calendar month, so "November"
on a Shanghai notice board starts at 2026-10-31 16:00 UTC.

Errors: :class:`~maintenance.domain.errors.InvalidRequest` for a zone or month that does
not exist.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from maintenance.domain.errors import InvalidRequest

__all__ = [
    "DEFAULT_TIMEZONE",
    "covers_daily",
    "month_of",
    "months_back",
    "site_month_period",
    "site_zone",
    "to_site_time",
]

DEFAULT_TIMEZONE: Final = "Asia/Shanghai"
_MONTH: Final = re.compile(r"(\d{4})-(\d{2})")


@cache
def site_zone(name: str) -> ZoneInfo:
    """The zone named ``name``; InvalidRequest when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidRequest(
            f"unknown time zone {name!r} (give an IANA name like Asia/Shanghai)"
        ) from exc


def to_site_time(at: datetime, zone: str) -> datetime:
    """``at`` (aware) as the site's wall-clock time."""
    if at.tzinfo is None:
        raise InvalidRequest(f"datetime {at.isoformat()} has no timezone: give it in UTC")
    return at.astimezone(site_zone(zone))


def covers_daily(start: time, end: time, at: time) -> bool:
    """Whether the daily span from ``start`` to ``end`` (past midnight when ``end`` is
    earlier) holds the time of day ``at``: ``start`` in, ``end`` out."""
    if start <= end:
        return start <= at < end
    return at >= start or at < end


def month_of(at: datetime, zone: str) -> str:
    """The site's calendar month ``YYYY-MM`` that ``at`` falls in."""
    return to_site_time(at, zone).strftime("%Y-%m")


def _first_day(month: str) -> date:
    match = _MONTH.fullmatch(month) if isinstance(month, str) else None
    if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
        raise InvalidRequest(f"month {month!r} is not a month like 2026-11")
    return date(int(match[1]), int(match[2]), 1)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def site_month_period(month: str, zone: str) -> tuple[datetime, datetime]:
    """The site's calendar month ``YYYY-MM`` as ``[start, end)`` in UTC."""
    first = _first_day(month)
    tz = site_zone(zone)

    def midnight(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)

    return midnight(first), midnight(_next_month(first))


def months_back(now: datetime, zone: str, count: int) -> list[str]:
    """The site's current month and the ``count`` before it, oldest first."""
    local = to_site_time(now, zone)
    months = [(local.year, local.month)]
    for _ in range(count):
        year, month = months[-1]
        months.append((year - 1, 12) if month == 1 else (year, month - 1))
    return [f"{year:04d}-{month:02d}" for year, month in reversed(months)]
