"""What the gateway exposes to Prometheus (``estatewatch_gateway_*``), read at scrape time
from the counts it keeps for its status message (:class:`gateway.metrics.GatewayMetrics`),
its buffer and its uplink, so the two never disagree.

Served only when the site file asks for it (``metrics: {port: 9111}``), bound to
127.0.0.1 unless ``metrics.host`` says otherwise: a site box is usually scraped through
the VPN or tunnel it reaches the centre by, or not at all, its retained status message
carrying the same figures to the centre.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry

from estatewatch.metrics import LinkState, Reading, StateCollector, link_readings
from gateway.metrics import DeviceState, GatewayMetrics
from gateway.status import QueueStats

__all__ = ["PREFIX", "register"]

PREFIX: Final = "estatewatch_gateway"
_QUANTILES: Final = ("0.5", "0.99")


def register(
    registry: CollectorRegistry, metrics: GatewayMetrics, queue: QueueStats, uplink: LinkState
) -> None:
    def devices() -> dict[str, int]:
        counts = metrics.count_states()
        return {state.value: counts[state] for state in DeviceState}

    def lateness() -> dict[str, float]:
        window = metrics.lateness()
        if window is None:
            return {}
        return {"0.5": window.p50_ms / 1000.0, "0.99": window.p99_ms / 1000.0}

    readings = [
        Reading(f"{PREFIX}_polls_total", "device polls done", lambda: metrics.polls),
        Reading(
            f"{PREFIX}_poll_overruns_total",
            "poll slots missed because the previous poll overran",
            lambda: metrics.overruns,
        ),
        Reading(
            f"{PREFIX}_poll_lateness_seconds",
            f"poll start after its slot, quantiles {', '.join(_QUANTILES)} of recent polls",
            lateness,
            kind="gauge",
            labels=("quantile",),
        ),
        Reading(
            f"{PREFIX}_errors_total",
            "acquisition and source errors by kind (timeout, exception, garbage, ...)",
            lambda: metrics.errors,
            labels=("kind",),
        ),
        Reading(
            f"{PREFIX}_devices",
            "devices by state (online, degraded, offline)",
            devices,
            kind="gauge",
            labels=("state",),
        ),
        Reading(
            f"{PREFIX}_dead_letters_total",
            "local payloads refused (smoke alarms), sent to the dead-letter topic",
            lambda: metrics.dead_letters,
        ),
        Reading(
            f"{PREFIX}_messages_published_total",
            "messages the central broker acknowledged (PUBACK)",
            lambda: metrics.published,
        ),
        Reading(
            f"{PREFIX}_buffer_depth",
            "messages in the on-disk buffer, waiting for the uplink",
            lambda: queue.depth,
            kind="gauge",
        ),
        Reading(
            f"{PREFIX}_buffer_bytes",
            "payload bytes in the on-disk buffer",
            lambda: queue.size_bytes,
            kind="gauge",
        ),
        Reading(
            f"{PREFIX}_buffer_dropped_total",
            "messages dropped because the buffer was full (lost)",
            lambda: queue.dropped,
        ),
        *link_readings(PREFIX, uplink),
    ]
    registry.register(StateCollector(readings))
