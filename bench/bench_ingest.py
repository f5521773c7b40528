"""How fast InfluxDB takes points on this machine: the ceiling for the ingest benchmark.

Prebuilt 5,000-line batches of elevator readings (3 tags, 6 fields, distinct series and
timestamps, so every point is new) are POSTed one after another through
:class:`ingest.writers.Influx1Writer` to a private InfluxDB 1.x started here, into a fresh
database per mode, once plain and once gzip-compressed. Building the batches is outside the
timed loop; compressing them (gzip mode) is inside, as the writer does it per write.

For now only the ceiling is reported; the MQTT-to-InfluxDB figure and the ratio come with
the ingest service.
"""

from __future__ import annotations

import asyncio
import sys
import time

from infra.local import InfluxInstance
from ingest.writers import Influx1Writer

NAME = "ingest"
BATCH_POINTS = 5_000
BATCHES = 100  # 500,000 points per mode, about 70 MB of line protocol held in memory
WARM_UP_BATCHES = 5
DEVICES = 2_000
T0 = 1_764_000_000_000_000_000


def build_batches(count: int, first: int = 0) -> list[bytes]:
    batches = []
    for b in range(first, first + count):
        lines = []
        for i in range(BATCH_POINTS):
            n = b * BATCH_POINTS + i
            device = n % DEVICES
            lines.append(
                f"elevator,site=north,building=b{device // 100:02d},device_id=elev-{device:04d} "
                f"floor={n % 20}i,door_open={'true' if n % 7 == 0 else 'false'},"
                f"load_kg={(n % 800) / 2},speed_m_s={(n % 25) / 10},direction={n % 3 - 1}i,"
                f"fault_code={n % 5}i {T0 + (n // DEVICES) * 1_000_000_000}"
            )
        batches.append("\n".join(lines).encode())
    return batches


async def _rate(url: str, database: str, batches: list[bytes], *, gzip: bool) -> float:
    warm_up, timed = batches[:WARM_UP_BATCHES], batches[WARM_UP_BATCHES:]
    async with Influx1Writer(url, database, gzip=gzip, timeout=60.0) as writer:
        for body in warm_up:
            await writer.write(body, BATCH_POINTS)
        start = time.perf_counter()
        for body in timed:
            await writer.write(body, BATCH_POINTS)
        elapsed = time.perf_counter() - start
    return len(timed) * BATCH_POINTS / elapsed


def run() -> dict[str, float]:
    batches = build_batches(BATCHES + WARM_UP_BATCHES)
    figures: dict[str, float] = {}
    with InfluxInstance() as influx:
        for gzip, key in (
            (False, "influx_ceiling_points_per_s"),
            (True, "influx_ceiling_gzip_points_per_s"),
        ):
            database = f"bench_{'gzip' if gzip else 'plain'}"
            influx.create_database(database)
            rate = asyncio.run(_rate(influx.url, database, batches, gzip=gzip))
            influx.drop_database(database)
            figures[f"{NAME}.{key}"] = round(rate)
            print(f"  {key}: {rate:,.0f} points/s", file=sys.stderr)
    return figures


if __name__ == "__main__":
    print(run())
