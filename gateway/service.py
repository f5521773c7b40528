"""The gateway's composition root: build every part from the site config and run them.

Start-up order is the data's path backwards (queue, uplink, outbox, sources, pollers), so
nothing produces data before there is somewhere durable to put it. Shutdown (SIGTERM or
Ctrl-C) is the reverse: pollers and MQTT sources stop, the outbox flushes everything it
holds to the queue, the uplink sends what it can within its close timeout, publishes a
retained "offline" status and disconnects; what is still queued is sent after restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime

from estatewatch import __version__
from estatewatch.catalogue import Catalogue
from estatewatch.durable_queue import DurableQueue
from estatewatch.metrics import MetricsEndpoint, process_registry
from estatewatch.wire import GatewayStatus
from gateway.config import SiteConfig
from gateway.metrics import GatewayMetrics
from gateway.mqtt_source import MqttSource
from gateway.outbox import Outbox
from gateway.poller import Acquisition
from gateway.prometheus import register as register_metrics
from gateway.status import build_status
from gateway.uplink import Uplink

log = logging.getLogger("estatewatch.gateway")

SUMMARY_INTERVAL = 60.0  # s between the operator's one-line summaries in the log


async def run_gateway(config: SiteConfig, catalogue: Catalogue, stop: asyncio.Event) -> None:
    """Run until ``stop`` is set, then shut down cleanly (see the module docstring)."""
    metrics = GatewayMetrics()
    started = datetime.now(UTC)
    log.info(
        "gateway %s of site %s starting (version %s): %d Modbus endpoint(s), %d MQTT source(s),"
        " buffer %s",
        config.gateway_id,
        config.site,
        __version__,
        len(config.modbus.endpoints),
        len(config.mqtt_sources),
        config.buffer.path,
    )
    with DurableQueue(
        config.buffer.path, config.buffer.max_bytes, config.buffer.fsync, label="buffer"
    ) as queue:
        if queue.depth:
            log.info("buffer holds %d message(s) from before; sending them first", queue.depth)

        def describe() -> GatewayStatus:
            return build_status(
                site=config.site,
                gateway_id=config.gateway_id,
                metrics=metrics,
                queue=queue,
                version=__version__,
                started_at=started,
                now=datetime.now(UTC),
            )

        uplink = Uplink(
            config.uplink,
            queue,
            site=config.site,
            gateway_id=config.gateway_id,
            describe=describe,
            metrics=metrics,
        )
        registry = process_registry("gateway")
        register_metrics(registry, metrics, queue, uplink)
        endpoint = MetricsEndpoint(
            registry, config.metrics.host, config.metrics.port, service="gateway", log=log
        )
        async with uplink, endpoint:
            outbox = Outbox(
                queue,
                site=config.site,
                gateway_id=config.gateway_id,
                batch_interval=config.uplink.batch_interval,
                max_readings_per_message=config.uplink.max_readings_per_message,
                wire_version=config.uplink.wire_version,
                on_flush=uplink.notify,
                metrics=metrics,
            )
            flushed = asyncio.Event()
            async with asyncio.TaskGroup() as flushing:
                flushing.create_task(outbox.run(flushed), name="outbox")
                async with AsyncExitStack() as sources:
                    for source in config.mqtt_sources:
                        await sources.enter_async_context(
                            MqttSource(
                                source,
                                catalogue[source.profile],
                                site=config.site,
                                gateway_id=config.gateway_id,
                                sink=outbox,
                                on_dead_letter=outbox.dead_letter,
                                metrics=metrics,
                                state_dir=config.buffer.path.parent,
                            )
                        )
                    acquisition = Acquisition(config.modbus.endpoints, catalogue, outbox, metrics)
                    async with asyncio.TaskGroup() as running:
                        polling = running.create_task(acquisition.run(), name="acquisition")
                        summary = running.create_task(
                            _summaries(describe, uplink, SUMMARY_INTERVAL), name="summary"
                        )
                        await stop.wait()
                        log.info("stopping: flushing readings to the buffer")
                        polling.cancel()
                        summary.cancel()
                flushed.set()  # the outbox's final flush runs as it exits
    log.info("gateway stopped")


async def _summaries(describe: Callable[[], GatewayStatus], uplink: Uplink, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        status = describe()
        lateness = status.poll_lateness
        log.info(
            "devices %d online, %d degraded, %d offline; poll lateness p99 %s ms,"
            " overruns %d; buffer %d message(s), %d dropped; uplink %s, %d published;"
            " dead letters %d",
            status.devices_online,
            status.devices_degraded,
            status.devices_offline,
            f"{lateness.p99_ms:.1f}" if lateness else "-",
            status.poll_overruns,
            status.buffer_depth,
            status.buffer_dropped,
            "connected" if uplink.connected else "DOWN",
            uplink.published,
            status.dead_letters,
        )
