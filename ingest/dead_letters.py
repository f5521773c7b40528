"""Where ingest puts what it cannot store: a JSON-lines file, a counter and a log line.

A message the wire schema rejects, or points InfluxDB refuses, are kept with the reason
and the time, so an operator can see what a gateway sent and why it was refused. Logging
is rate-limited (a burst of garbage is one line and a count, not thousands).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

from ingest.decode import Rejected

log = logging.getLogger("estatewatch.ingest")

LOG_EVERY_S = 10.0
_TEXT_LIMIT = 8192


class DeadLetters:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._suppressed = 0
        self._last_log = -LOG_EVERY_S

    def _record(self, topic: str, reason: str, payload: str) -> None:
        self.count += 1
        entry = {
            "time": datetime.now(UTC).isoformat(),
            "topic": topic,
            "reason": reason,
            "payload": payload[:_TEXT_LIMIT],
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(entry) + "\n")
        except OSError as exc:
            log.error("dead letter not saved to %s: %s", self.path, exc.strerror or exc)
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY_S:
            more = f" (+{self._suppressed} more since the last report)" if self._suppressed else ""
            log.warning("dead letter from %s: %s%s", topic or "influxdb", reason, more)
            self._last_log, self._suppressed = now, 0
        else:
            self._suppressed += 1

    def rejected_message(self, rejected: Rejected) -> None:
        self._record(rejected.topic, rejected.reason, rejected.payload_text)

    def rejected_points(self, lines: bytes, reason: str) -> None:
        self._record("", f"InfluxDB refused points: {reason}", lines.decode("utf-8", "replace"))
