"""Which of a poll's values go on the wire: the per-device report filter.

Pure; the caller passes the time (seconds on any monotonic clock). Mode ``always`` reports
every value of every poll. Mode ``on_change`` reports a value when it differs from the
last value *reported* for that field by more than the field's absolute deadband (measured
against the last report, not the last poll, so a slow drift is still reported once it
adds up); booleans, text and enumerations are reported on any change. Every
``full_every`` seconds a poll group is reported in full, so a consumer that missed a
change, or just started, catches up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from estatewatch.catalogue import RegisterField, Value
from gateway.config import ReportConfig


class ReportFilter:
    def __init__(self, config: ReportConfig, fields: Iterable[RegisterField] = ()) -> None:
        self.config = config
        self._always = config.mode == "always"
        self._full_every = config.full_every
        # Deadbands may name a field ("power": every port) or one key ("port3.power").
        self._band: dict[str, float] = {}
        self._exact: set[str] = set()  # enums: a change of label is a change, however small
        for f in fields:
            band = config.deadband.get(f.key, config.deadband.get(f.name))
            if band is not None:
                self._band[f.key] = band
            if f.enum is not None:
                self._exact.add(f.key)
        for key, band in config.deadband.items():
            self._band.setdefault(key, band)  # derived fields are not in the profile
        self._sent: dict[str, Value] = {}
        self._full_at: dict[str, float] = {}  # poll group -> time of its last full report

    def select(self, group: str, now: float, values: Mapping[str, Value]) -> dict[str, Value]:
        """The values of one poll of ``group`` at ``now`` that should be reported."""
        if self._always:
            return dict(values)
        last_full = self._full_at.get(group)
        if last_full is None or now - last_full >= self._full_every:
            self._full_at[group] = now
            self._sent.update(values)
            return dict(values)
        out: dict[str, Value] = {}
        for key, value in values.items():
            if key not in self._sent or self._changed(key, self._sent[key], value):
                out[key] = value
                self._sent[key] = value
        return out

    def _changed(self, key: str, before: Value, after: Value) -> bool:
        if isinstance(after, bool) or isinstance(before, bool) or key in self._exact:
            return before != after
        if isinstance(after, int | float) and isinstance(before, int | float):
            if math.isnan(after) or math.isnan(before):
                return math.isnan(after) != math.isnan(before)
            return abs(after - before) > self._band.get(key, 0.0)
        return before != after
