"""Reconnect delays of :class:`estatewatch.mqtt.Link`, so of every MQTT connection (gateway
uplink and sources, ingest and maintenance, the smoke simulator): exponential, capped,
with jitter so that a compound's gateways or a site's workers do not all reconnect in the
same instant after a broker restart. :func:`equal_jitter`: the retry delays of outbound
deliveries (webhooks, notifications), computed from the attempt's number.
"""

from __future__ import annotations

import random


def equal_jitter(attempt: int, first: float, limit: float) -> float:
    """The delay after failed attempt ``attempt`` (1, 2, ...): ``first`` doubled each time
    up to ``limit``, of which a random half: at least half the backoff, so many senders
    do not retry in step."""
    ceiling = min(limit, first * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class Backoff:
    """``next()`` gives 1x, 2x, 4x ... ``first`` (jittered +-20 %), never above ``limit``;
    ``reset()`` after a success starts again from ``first``."""

    def __init__(self, first: float, limit: float) -> None:
        if not 0 < first <= limit:
            raise ValueError(f"backoff needs 0 < first <= limit, not ({first}, {limit})")
        self.first, self.limit = first, limit
        self._delay = first

    def reset(self) -> None:
        self._delay = self.first

    def next(self) -> float:
        delay = self._delay * random.uniform(0.8, 1.2)
        self._delay = min(self._delay * 2.0, self.limit)
        return delay
