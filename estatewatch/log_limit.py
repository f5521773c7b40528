"""A log line that cannot flood: at most one per interval, the rest counted.

:class:`RateLimitedLog` is what a service uses for a warning that a misbehaving sender
can trigger at will (a dead letter, say): the first occurrence is logged at once, later
ones within ``every`` seconds are only counted, and the next line logged (or
:meth:`~RateLimitedLog.flush`, at shutdown) says how many were left out. A flood of any
size is then a handful of lines whose counts add up. The clock is injected (monotonic
seconds) so the limit is tested without waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    def __init__(
        self,
        log: logging.Logger,
        what: str,
        *,
        every: float = 10.0,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``what`` names the occurrences in the summary line ("dead letters")."""
        self._log, self._what, self._every, self._level = log, what, every, level
        self._clock = clock
        self._last: float | None = None
        self.suppressed = 0
        """Occurrences since the last line logged, not yet reported."""

    def __call__(self, message: str, *args: object) -> None:
        """One occurrence: logged (``message % args``) unless one was within ``every``."""
        now = self._clock()
        if self._last is not None and now - self._last < self._every:
            self.suppressed += 1
            return
        if self.suppressed:
            message += " (+%d more %s since the last report)"
            args = (*args, self.suppressed, self._what)
        self._log.log(self._level, message, *args)
        self._last, self.suppressed = now, 0

    def flush(self) -> None:
        """Report the occurrences counted but not yet logged (at shutdown)."""
        if self.suppressed:
            self._log.log(
                self._level, "%d more %s since the last report", self.suppressed, self._what
            )
            self.suppressed = 0
