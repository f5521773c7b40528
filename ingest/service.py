"""The ingest composition root: broker -> decode -> batcher -> InfluxDB (or the spill).

Start-up follows the data's path backwards (spill, writer, batcher, consumer), so nothing
is read from the broker before it has somewhere to go. A message is acknowledged to the
broker only when its points are in InfluxDB or committed to the on-disk spill (the
batcher's ack callbacks); shutdown stops reading first, then flushes the batcher.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from estatewatch.catalogue import builtin_catalogue
from estatewatch.clock import Clock, utc_now
from estatewatch.dead_letters import DeadLetters
from estatewatch.durable_queue import DurableQueue
from estatewatch.metrics import MetricsEndpoint, process_registry
from estatewatch.mqtt import Ack, WireConsumer
from estatewatch.screen import Screen
from ingest.batcher import Batcher
from ingest.decode import Decoded
from ingest.fast_lane import FastLane
from ingest.influx_v2 import Influx2Writer
from ingest.metrics import register
from ingest.settings import IngestSettings
from ingest.writers import Influx1Writer, InfluxWriter

log = logging.getLogger("estatewatch.ingest")

SUMMARY_INTERVAL = 60.0


def make_writer(settings: IngestSettings) -> InfluxWriter:
    if settings.influx_version == 2:
        # IngestSettings refuses version 2 without all three.
        assert settings.influx_org is not None
        assert settings.influx_bucket is not None
        assert settings.influx_token is not None
        return Influx2Writer(
            settings.influx_url, settings.influx_org, settings.influx_bucket, settings.influx_token
        )
    return Influx1Writer(
        settings.influx_url,
        settings.influx_database,
        retention_policy=settings.influx_retention_policy,
        username=settings.influx_username,
        password=settings.influx_password,
    )


@asynccontextmanager
async def running_ingest(
    settings: IngestSettings, clock: Clock = utc_now
) -> AsyncIterator[tuple[WireConsumer[Decoded], Batcher]]:
    """Everything up and running inside the ``async with``; clean shutdown on exit."""
    dead = DeadLetters(settings.dead_letter_path, log)
    screen = Screen(builtin_catalogue(), settings.screen_limits, clock)
    async with AsyncExitStack() as stack:
        stack.callback(dead.close)
        spill = stack.enter_context(
            DurableQueue(settings.spill_path, settings.spill_max_bytes, fsync=True, label="spill")
        )
        writer = await stack.enter_async_context(make_writer(settings))
        batcher = await stack.enter_async_context(
            Batcher(
                writer,
                spill,
                max_points=settings.batch_points,
                max_delay=settings.batch_delay,
                on_rejected=lambda lines, reason: dead.record(
                    "",
                    f"InfluxDB refused points: {reason}",
                    lines.decode("utf-8", "replace"),
                    code="influx_refused",
                    source="influxdb",
                ),
            )
        )

        async def handle(decoded: Decoded, ack: Ack) -> None:
            if decoded.refused is not None:
                dead.rejected_message(decoded.refused)
            await batcher.submit(decoded.lines, decoded.points, ack)

        consumer = WireConsumer(
            settings.mqtt_host,
            settings.mqtt_port,
            name="ingest",
            log=log,
            decoder=FastLane(screen).decode,
            handler=handle,
            on_rejected=dead.rejected_message,
            client_id=settings.client_id,
            sites=settings.sites,
            session_expiry_s=settings.session_expiry_s,
            username=settings.mqtt_username,
            password=settings.mqtt_password,
        )
        registry = process_registry("ingest")
        register(registry, consumer, batcher, dead)
        # Metrics first: a worker that starts on a broker's backlog is busy from its first
        # message, and Prometheus (and the benchmark) should see that drain from its start.
        await stack.enter_async_context(
            MetricsEndpoint(
                registry, settings.metrics_host, settings.metrics_port, service="ingest", log=log
            )
        )
        await stack.enter_async_context(consumer)
        log.info(
            "ingest %s (sites %s): mqtt://%s:%d -> %s",
            settings.client_id,
            ",".join(settings.sites),
            settings.mqtt_host,
            settings.mqtt_port,
            settings.influx_url,
        )
        yield consumer, batcher
        log.info("stopping: no more reading; flushing batches to InfluxDB or the spill")


async def run_ingest(settings: IngestSettings, stop: asyncio.Event) -> None:
    async with running_ingest(settings) as (consumer, batcher):
        last_messages, last_points = 0, 0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            try:
                await asyncio.wait_for(stop.wait(), SUMMARY_INTERVAL)
            except TimeoutError:
                elapsed = loop.time() - started
                counters = batcher.metrics
                log.info(
                    "%.0f messages/s, %.0f points/s, batch latency %.2f s, spill %d batch(es),"
                    " %d dead letter(s) so far",
                    (consumer.received - last_messages) / elapsed,
                    (counters.points_written - last_points) / elapsed,
                    counters.avg_batch_latency_s,
                    counters.spill_depth,
                    consumer.rejected,
                )
                last_messages, last_points = consumer.received, counters.points_written
    log.info("ingest stopped")
