"""The pure parts of a device's chart history: windows, buckets, a counter's rises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.web.templating import asset_url
from maintenance.db.read.asset_history import ChartWindow, bucket_start, rises_per_bucket

NOW = datetime(2026, 12, 10, 4, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("days", "every", "most_points"), [(7, 1, 168), (30, 6, 120), (90, 24, 90)]
)
def test_each_range_is_a_bounded_number_of_buckets(days: int, every: int, most_points: int) -> None:
    window = ChartWindow.ending(NOW, days)
    assert window.every == timedelta(hours=every)
    assert (window.start, window.end) == (NOW - timedelta(days=days), NOW)
    # The buckets the range touches (the first and last may be partial).
    first, last = bucket_start(window.start, window.every), bucket_start(NOW, window.every)
    assert (last - first) / window.every + 1 <= most_points + 1


def test_a_range_not_offered_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="7, 30, 90 days, not 5"):
        ChartWindow.ending(NOW, 5)


def test_buckets_are_aligned_to_the_epoch_as_influxdb_aligns_them() -> None:
    assert bucket_start(NOW, timedelta(hours=1)) == datetime(2026, 12, 10, 4, tzinfo=UTC)
    assert bucket_start(NOW, timedelta(hours=6)) == datetime(2026, 12, 10, 0, tzinfo=UTC)
    assert bucket_start(NOW, timedelta(days=1)) == datetime(2026, 12, 10, tzinfo=UTC)


def test_a_counters_rise_per_bucket_skips_the_first_and_a_reset() -> None:
    assert rises_per_bucket([]) == []
    assert rises_per_bucket([100]) == [None]
    assert rises_per_bucket([100, 130, 130, 190, 5, 25]) == [None, 30, 0, 60, None, 20]


@pytest.mark.parametrize(
    ("key", "url"),
    [
        ("demo/elevator/elev-01", "/assets/demo/elev-01"),
        ("demo/charger/chg-01", "/assets/demo/chg-01"),
        ("demo/smoke_alarm/smoke-004", "/assets/demo/smoke-004"),
        ("my site/elevator/a?b", "/assets/my%20site/a%3Fb"),
        ("demo/building/B1", None),
        ("demo/elevator/", None),
        ("free text", None),
        (None, None),
    ],
)
def test_an_asset_key_links_its_device_page(key: str | None, url: str | None) -> None:
    assert asset_url(key) == url
