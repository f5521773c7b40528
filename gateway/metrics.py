"""Counters and gauges the gateway reports in its status message and logs.

Plain in-memory numbers, updated by the pollers, sources and uplink, read by the status
publisher. Poll lateness keeps a bounded window of recent samples so percentiles cost
O(window) and memory stays flat however long the gateway runs.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from enum import StrEnum

from estatewatch.wire import PollLateness

LATENESS_WINDOW = 20_000


class DeviceState(StrEnum):
    ONLINE = "online"
    DEGRADED = "degraded"  # answering, but some requests fail
    OFFLINE = "offline"  # not answering at all


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class GatewayMetrics:
    lateness_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENESS_WINDOW))
    polls: int = 0
    overruns: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    device_states: dict[str, DeviceState] = field(default_factory=dict)
    published: int = 0

    def poll_done(self, lateness_s: float) -> None:
        self.polls += 1
        self.lateness_ms.append(lateness_s * 1000.0)

    def error(self, kind: str) -> None:
        self.errors[kind] += 1

    def lateness(self) -> PollLateness | None:
        if not self.lateness_ms:
            return None
        ordered = sorted(self.lateness_ms)
        return PollLateness(
            p50_ms=round(_percentile(ordered, 0.50), 2),
            p95_ms=round(_percentile(ordered, 0.95), 2),
            p99_ms=round(_percentile(ordered, 0.99), 2),
            max_ms=round(ordered[-1], 2),
        )

    def count_states(self) -> Counter[DeviceState]:
        return Counter(self.device_states.values())
