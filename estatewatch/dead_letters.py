"""Where a central service puts what it cannot use: a JSON-lines file, a counter and a
log line (ingest and the maintenance worker each keep their own file).

A message the wire schema rejects, or points InfluxDB refuses, are kept with the reason
and the time, so an operator can see what a gateway sent and why it was refused. Logging,
under the caller's logger, is rate-limited (a burst of garbage is one line and a count,
not thousands). Each is counted by its reason code (``by_reason``: the
:attr:`~estatewatch.inbound.Rejected.code` of a message, ``influx_refused`` for points),
which Prometheus shows as ``..._dead_letters_total{reason}``.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from estatewatch.inbound import Rejected

__all__ = ["DeadLetters"]

LOG_EVERY_S = 10.0
_TEXT_LIMIT = 8192


class DeadLetters:
    """Appends each refused message to ``path``; ``count`` is how many so far, ``by_reason``
    how many per reason code."""

    def __init__(self, path: Path, log: logging.Logger) -> None:
        self.path, self._log = path, log
        self.count = 0
        self.by_reason: Counter[str] = Counter()
        self._suppressed = 0
        self._last_log = -LOG_EVERY_S

    def record(self, topic: str, reason: str, payload: str, *, code: str, source: str = "") -> None:
        """Keep one refused thing; ``code`` is its reason's short code (a metric label),
        ``source`` names it in the log when there is no topic."""
        self.count += 1
        self.by_reason[code] += 1
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
            self._log.error("dead letter not saved to %s: %s", self.path, exc.strerror or exc)
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY_S:
            more = f" (+{self._suppressed} more since the last report)" if self._suppressed else ""
            self._log.warning("dead letter from %s: %s%s", topic or source, reason, more)
            self._last_log, self._suppressed = now, 0
        else:
            self._suppressed += 1

    def rejected_message(self, rejected: Rejected) -> None:
        self.record(rejected.topic, rejected.reason, rejected.payload_text, code=rejected.code)
