"""The gateway's status message: built from its metrics, published on a schedule.

``build_status`` is a pure function of the metrics, the queue's numbers, the version and
two instants, so it is tested without a clock or a broker. ``publish_every`` sends a
status every ``interval`` seconds through anything with ``publish_status`` (the uplink),
on a fixed schedule, until told to stop; the first one is left to the uplink, which sends
one whenever it connects.

Errors: neither raises on broker trouble. A status that cannot be sent (the uplink is
down) is skipped, since the next one supersedes it; the uplink sends a fresh "online"
status itself when it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Literal, Protocol

from estatewatch.wire import GatewayStatus
from gateway.metrics import DeviceState, GatewayMetrics

__all__ = ["QueueStats", "StatusPublisher", "build_status", "publish_every"]

log = logging.getLogger(__name__)


class QueueStats(Protocol):
    """The numbers of :class:`estatewatch.durable_queue.DurableQueue` a status reports."""

    @property
    def depth(self) -> int: ...

    @property
    def size_bytes(self) -> int: ...

    @property
    def dropped(self) -> int: ...


class StatusPublisher(Protocol):
    async def publish_status(self, status: GatewayStatus) -> bool: ...


def build_status(
    *,
    site: str,
    gateway_id: str,
    metrics: GatewayMetrics,
    queue: QueueStats,
    version: str,
    started_at: datetime,
    now: datetime,
    state: Literal["online", "offline"] = "online",
) -> GatewayStatus:
    counts = metrics.count_states()
    return GatewayStatus(
        gateway_id=gateway_id,
        site=site,
        state=state,
        ts=now,
        version=version,
        started_at=started_at,
        uptime_s=round(max(0.0, (now - started_at).total_seconds()), 3),
        devices_online=counts[DeviceState.ONLINE],
        devices_degraded=counts[DeviceState.DEGRADED],
        devices_offline=counts[DeviceState.OFFLINE],
        offline_devices=sorted(
            name for name, state in metrics.device_states.items() if state is DeviceState.OFFLINE
        ),
        buffer_depth=queue.depth,
        buffer_bytes=queue.size_bytes,
        buffer_dropped=queue.dropped,
        poll_lateness=metrics.lateness(),
        poll_overruns=metrics.overruns,
        errors=dict(sorted(metrics.errors.items())),
        dead_letters=metrics.dead_letters,
    )


async def publish_every(
    publisher: StatusPublisher,
    describe: Callable[[], GatewayStatus],
    interval: float,
    stop: asyncio.Event,
) -> None:
    """Publish ``describe()`` every ``interval`` seconds until ``stop`` is set.

    Cancelling is not enough on its own: on Python 3.11, a cancel that lands just as a
    publish completes is swallowed by ``asyncio.wait_for`` (which aiomqtt uses).
    """
    loop = asyncio.get_running_loop()
    due = loop.time() + interval
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(due):
                await stop.wait()
        if stop.is_set():
            return
        if not await publisher.publish_status(describe()):
            log.debug("status: not published (uplink down); the next one follows")
        due += interval
        now = loop.time()
        if due <= now:  # a publish that took longer than a period: skip the missed slots
            due = now + interval
