"""One device's recent history in time buckets, for the charts of its page (7, 30 or 90
days back from now).

The bucket grows with the range (:data:`BUCKETS`), so a range is a bounded number of
points whatever the device's reporting rate: 168 hourly, 120 six-hourly or 90 daily
buckets. Buckets are aligned to the epoch, as InfluxDB's ``GROUP BY time()`` aligns them
(daily ones start at 00:00 UTC); a bucket is named by its start, and empty buckets are left
out (a chart shows a gap).

- :func:`door_times` (InfluxDB, elevators): the mean door opening and closing time.
- :func:`trips` (InfluxDB, elevators): the run counter's (F9-11/F9-12) rise per bucket:
  each bucket's highest count less the previous bucket's (the bucket before the range is
  read too, for the first). A counter that went down (controller reset or replaced) gives
  no figure for that bucket rather than a wrong one.
- :func:`alarm_counts` (database): alarms raised on the device, and of them the faults as
  the KPIs and the renewal evidence count them
  (:func:`~maintenance.db.read.kpi_frames.fault_records`). They come from the alarm
  history, where the rule engine records its judgements; InfluxDB holds the readings.

Errors: :class:`~estatewatch.influx.query.InfluxQueryError` when InfluxDB fails;
:class:`ValueError` for a range not in :data:`BUCKETS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncSession

from estatewatch.influx.query import InfluxReader
from maintenance.db.read.alarms import AlarmFilters, list_alarms
from maintenance.db.read.assets import AssetInfo
from maintenance.db.read.kpi_frames import ELEVATOR, fault_records
from maintenance.db.read.pages import MAX_PAGE_SIZE, PageRequest

__all__ = [
    "BUCKETS",
    "DOOR_FIELDS",
    "ChartWindow",
    "alarm_counts",
    "bucket_start",
    "door_times",
    "rises_per_bucket",
    "trips",
]

BUCKETS: Final[dict[int, timedelta]] = {
    7: timedelta(hours=1),
    30: timedelta(hours=6),
    90: timedelta(days=1),
}
"""Days shown -> bucket size."""
DOOR_FIELDS: Final = ("door_open_duration", "door_close_duration")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ALARM_PAGE: Final = MAX_PAGE_SIZE


@dataclass(frozen=True, slots=True)
class ChartWindow:
    """``[start, end)``, ``days`` long, in buckets of ``every``."""

    days: int
    start: datetime
    end: datetime
    every: timedelta

    @classmethod
    def ending(cls, end: datetime, days: int) -> ChartWindow:
        every = BUCKETS.get(days)
        if every is None:
            known = ", ".join(str(d) for d in BUCKETS)
            raise ValueError(f"a chart shows {known} days, not {days}")
        return cls(days, end - timedelta(days=days), end, every)


def bucket_start(at: datetime, every: timedelta) -> datetime:
    """The start of the epoch-aligned bucket of ``every`` that holds ``at``."""
    return _EPOCH + ((at - _EPOCH) // every) * every


async def door_times(reader: InfluxReader, asset: AssetInfo, window: ChartWindow) -> pd.DataFrame:
    """``time`` and the mean of each of :data:`DOOR_FIELDS` (seconds) per bucket."""
    return await reader.series(
        ELEVATOR, asset.device_id, DOOR_FIELDS, window.start, window.end,
        every=window.every, aggregate="mean", site=asset.site,
    )  # fmt: skip


def rises_per_bucket(highest: list[int]) -> list[int | None]:
    """A counter's rise in each bucket from each bucket's ``highest`` value, oldest first:
    None for the first bucket (nothing before it to rise from) and after a fall."""
    pairs = zip([None, *highest], highest, strict=False)
    return [None if before is None or now < before else now - before for before, now in pairs]


async def trips(reader: InfluxReader, asset: AssetInfo, window: ChartWindow) -> pd.DataFrame:
    """``time`` and ``trips`` per bucket of ``window``."""
    highest = await reader.series(
        ELEVATOR, asset.device_id, ["run_count"], window.start - window.every, window.end,
        every=window.every, aggregate="max", site=asset.site,
    )  # fmt: skip
    highest = highest.dropna(subset=["run_count"]).reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "time": highest["time"],
            "trips": pd.Series(rises_per_bucket(highest["run_count"].tolist()), dtype="Int64"),
        }
    )
    shown = frame["time"] >= pd.Timestamp(bucket_start(window.start, window.every))
    return frame[shown].reset_index(drop=True)


async def alarm_counts(
    session: AsyncSession, asset: AssetInfo, window: ChartWindow
) -> pd.DataFrame:
    """``time``, ``alarms`` (raised) and ``faults`` per bucket with any, oldest first."""
    raised: list[datetime] = []
    filters = AlarmFilters(
        site=asset.site, device_type=asset.device_type, device_id=asset.device_id
    )
    cursor = None
    while True:  # newest first: stop at the first page that reaches back past the start
        page = await list_alarms(
            session, filters=filters, page=PageRequest(limit=_ALARM_PAGE, cursor=cursor)
        )
        raised += [a.raised_at for a in page.items if window.start <= a.raised_at < window.end]
        if page.next_cursor is None or (page.items and page.items[-1].raised_at < window.start):
            break
        cursor = page.next_cursor
    faults = [
        f.at for f in await fault_records(session, window.end, [asset.key]) if f.at >= window.start
    ]
    counts: dict[datetime, list[int]] = {}
    for kind, times in enumerate((raised, faults)):
        for at in times:
            counts.setdefault(bucket_start(at, window.every), [0, 0])[kind] += 1
    buckets = sorted(counts)
    return pd.DataFrame(
        {
            "time": pd.Series(buckets, dtype="datetime64[ns, UTC]"),
            "alarms": pd.Series([counts[b][0] for b in buckets], dtype="int64"),
            "faults": pd.Series([counts[b][1] for b in buckets], dtype="int64"),
        }
    )
