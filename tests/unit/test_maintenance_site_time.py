"""A site's local time: months counted in its zone, times shown in it, bad zones refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from maintenance.domain.errors import InvalidRequest
from maintenance.domain.site_time import month_of, months_back, site_month_period, to_site_time


def test_a_shanghai_month_starts_at_sixteen_hundred_utc_the_day_before() -> None:
    assert site_month_period("2026-11", "Asia/Shanghai") == (
        datetime(2026, 10, 31, 16, tzinfo=UTC),
        datetime(2026, 11, 30, 16, tzinfo=UTC),
    )
    assert site_month_period("2026-12", "UTC") == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_a_month_with_a_daylight_saving_change_is_not_a_whole_number_of_days() -> None:
    start, end = site_month_period("2026-03", "Europe/Berlin")
    assert (start, end) == (
        datetime(2026, 2, 28, 23, tzinfo=UTC),
        datetime(2026, 3, 31, 22, tzinfo=UTC),
    )


def test_an_instant_belongs_to_the_site_month_it_falls_in_locally() -> None:
    late_utc = datetime(2026, 11, 30, 17, tzinfo=UTC)  # 01:00 on 1 December in Shanghai
    assert month_of(late_utc, "Asia/Shanghai") == "2026-12"
    assert month_of(late_utc, "UTC") == "2026-11"
    assert to_site_time(late_utc, "Asia/Shanghai").isoformat() == "2026-12-01T01:00:00+08:00"


def test_months_back_cross_the_year_oldest_first() -> None:
    now = datetime(2026, 12, 31, 20, tzinfo=UTC)  # already January 2027 in Shanghai
    months = months_back(now, "Asia/Shanghai", 12)
    assert months[0] == "2026-01"
    assert months[-2:] == ["2026-12", "2027-01"]
    assert len(months) == 13


@pytest.mark.parametrize("zone", ["Asia/Beijing", "", "../etc/passwd"])
def test_an_unknown_zone_is_refused_by_name(zone: str) -> None:
    with pytest.raises(InvalidRequest, match="unknown time zone"):
        site_month_period("2026-11", zone)


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "November"])
def test_a_month_that_is_not_one_is_refused(month: str) -> None:
    with pytest.raises(InvalidRequest, match="is not a month like 2026-11"):
        site_month_period(month, "UTC")


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="has no timezone"):
        to_site_time(datetime(2026, 11, 1), "UTC")
