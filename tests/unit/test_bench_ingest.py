"""The ingest benchmark's own logic (bench/bench_ingest.py): how it dates the traffic the
maintenance worker judges as it is published, and how it reads a worker's metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, generate_latest

from bench.bench_ingest import START, LiveStamps, metric_value
from estatewatch.wire import Reading, TelemetryBundle, TelemetryMessage


def _message(second: int, device: str) -> TelemetryMessage:
    return TelemetryMessage(
        gateway_id="gw-1",
        seq=second,
        site="site-01",
        device_type="elevator",
        device_id=device,
        profile="elevator-nice3000",
        readings=[Reading(ts=START + timedelta(seconds=second), fields={"floor": 3})],
    )


def test_each_recorded_second_gets_the_time_it_goes_out_and_later_ones_later() -> None:
    now = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    stamps = LiveStamps(lambda: now)  # a frozen clock: the stamps must still increase
    first = [_message(1, "elev-01"), _message(1, "elev-02")]
    bundle = TelemetryBundle.of("gw-1", 1, "site-01", first).model_dump_json().encode()
    again = stamps(_message(1, "elev-03").model_dump_json().encode())
    later = stamps(_message(2, "elev-01").model_dump_json().encode())
    restamped = stamps(bundle)

    def times(message: TelemetryMessage) -> list[datetime]:
        return [reading.ts for reading in message.readings]

    parts = TelemetryBundle.model_validate_json(restamped).messages()
    assert [times(m) for m in parts] == [[now], [now]]
    assert times(TelemetryMessage.model_validate_json(again)) == [now]
    assert times(TelemetryMessage.model_validate_json(later)) == [now + timedelta(microseconds=1)]


def test_a_metric_of_a_million_and_more_is_read_not_taken_for_missing() -> None:
    """prometheus_client writes 1,234,567 as ``1.234567e+06``; read as missing, the city
    benchmark's warm-up waited for a maintenance worker that had long caught up."""
    registry = CollectorRegistry()
    Counter("bench_points", "points", registry=registry).inc(1_234_567)
    Counter("bench_errors", "errors", ["kind"], registry=registry).labels("too_large").inc(3)
    text = generate_latest(registry).decode()
    assert "1.234567e+06" in text
    assert metric_value(text, "bench_points_total") == 1_234_567
    assert metric_value(text, "bench_errors_total") is None  # only labelled samples
    assert metric_value(text, "bench_missing_total") is None
