"""Where a central service puts what it cannot use: a JSON-lines file, a counter and a
log line (ingest and the maintenance worker each keep their own file).

A message the wire schema rejects, or points InfluxDB refuses, are kept with the reason
and the time, so an operator can see what a gateway sent and why it was refused. Logging,
under the caller's logger, is rate-limited (:class:`~estatewatch.log_limit.RateLimitedLog`:
a burst of garbage is one line and a count, not thousands; :meth:`DeadLetters.close`
reports what the last line left out). Each is counted by its reason code (``by_reason``: the
:attr:`~estatewatch.inbound.Rejected.code` of a message, ``influx_refused`` for points),
which Prometheus shows as ``..._dead_letters_total{reason}``.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from estatewatch.inbound import Rejected
from estatewatch.log_limit import RateLimitedLog

__all__ = ["DeadLetters"]

LOG_EVERY_S = 10.0
_TEXT_LIMIT = 8192


class DeadLetters:
    """Appends each refused message to ``path``; ``count`` is how many so far, ``by_reason``
    how many per reason code."""

    def __init__(
        self, path: Path, log: logging.Logger, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """``clock``: monotonic seconds, for the log's rate limit."""
        self.path, self._log = path, log
        self.count = 0
        self.by_reason: Counter[str] = Counter()
        self._warn = RateLimitedLog(log, "dead letters", every=LOG_EVERY_S, clock=clock)

    def record(self, topic: str, reason: str, payload: str, *, code: str, source: str = "") -> None:
        """Keep one refused thing; ``code`` is its reason's short code (a metric label),
        ``source`` names it in the log when there is no topic."""
        self.count += 1
        self.by_reason[code] += 1
        entry = {
            "time": datetime.now(UTC).isoformat(),
            "topic": topic,
            "code": code,
            "reason": reason,
            "payload": payload[:_TEXT_LIMIT],
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(entry) + "\n")
        except OSError as exc:
            self._log.error("dead letter not saved to %s: %s", self.path, exc.strerror or exc)
        self._warn("dead letter from %s: %s", topic or source, reason)

    def close(self) -> None:
        """Log how many dead letters the last line left out (at shutdown)."""
        self._warn.flush()

    def rejected_message(self, rejected: Rejected) -> None:
        self.record(rejected.topic, rejected.reason, rejected.payload_text, code=rejected.code)
