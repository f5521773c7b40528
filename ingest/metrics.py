"""What ingest exposes to Prometheus (``estatewatch_ingest_*``), read from its own counts.

Names kept from before prometheus_client (the demo's board and the tests read
``..._messages_total`` and ``..._points_written_total``). ``write_errors_total`` and
``dead_letters_total`` now carry a label (``kind``, ``reason``); their sum is the old
unlabelled total.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from estatewatch.dead_letters import DeadLetters
from estatewatch.metrics import (
    Reading,
    StateCollector,
    consumer_readings,
    dead_letter_readings,
)
from estatewatch.mqtt import WireConsumer
from ingest.batcher import Batcher

__all__ = ["PREFIX", "register"]

PREFIX = "estatewatch_ingest"


def register(
    registry: CollectorRegistry,
    consumer: WireConsumer[Any],
    batcher: Batcher,
    dead: DeadLetters,
) -> None:
    counters = batcher.metrics
    readings = [
        *consumer_readings(PREFIX, consumer),
        *dead_letter_readings(PREFIX, dead),
        Reading(
            f"{PREFIX}_points_written_total",
            "points stored in InfluxDB",
            lambda: counters.points_written,
        ),
        Reading(
            f"{PREFIX}_batches_written_total",
            "batches stored in InfluxDB",
            lambda: counters.batches_written,
        ),
        Reading(
            f"{PREFIX}_write_errors_total",
            "failed InfluxDB writes by kind (retryable, too_large, rejected, unauthorized,"
            " not_found)",
            lambda: counters.write_errors,
            labels=("kind",),
        ),
        Reading(
            f"{PREFIX}_rejected_points_total",
            "points InfluxDB refused as bad data (dead-lettered)",
            lambda: counters.rejected_points,
        ),
        Reading(
            f"{PREFIX}_batch_latency_seconds",
            "mean first-message-to-stored time of recent batches",
            lambda: counters.avg_batch_latency_s,
            kind="gauge",
        ),
        Reading(
            f"{PREFIX}_pending_points",
            "points received and held in memory, not yet written or spilled",
            lambda: batcher.pending_points,
            kind="gauge",
        ),
        Reading(
            f"{PREFIX}_spill_depth",
            "batches waiting on disk for InfluxDB",
            lambda: counters.spill_depth,
            kind="gauge",
        ),
        Reading(
            f"{PREFIX}_spilled_batches_total",
            "batches put on disk while InfluxDB failed",
            lambda: counters.spilled_batches,
        ),
        Reading(
            f"{PREFIX}_drained_batches_total",
            "spilled batches written to InfluxDB afterwards",
            lambda: counters.drained_batches,
        ),
        Reading(
            f"{PREFIX}_spill_dropped_total",
            "spilled batches dropped because the spill was full (lost)",
            lambda: counters.spill_dropped,
        ),
    ]
    registry.register(StateCollector(readings))
