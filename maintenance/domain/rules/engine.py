"""The rule engine: observations in, signals out; pure, clock injected, state snapshotted.

The maintenance service feeds it every observation (:mod:`maintenance.domain.observations`)
with :meth:`RuleEngine.observe`, calls :meth:`RuleEngine.tick` every few seconds for the
time-based rules (offline, silent lift, a ``for`` that completes without new data),
hands each returned :class:`~maintenance.domain.signals.Signal` to the alarm book, and
stores :meth:`RuleEngine.snapshot` now and then (and at shutdown). After a restart,
:meth:`RuleEngine.restore` brings back raised alarms (they stay raised, silently),
durations under way, repeat windows, baselines and learned intervals.

Contract: one active alarm per (device, rule id). A per-instance rule has one rule id
per instance: ``charger_overheat/port3``, ``door_degradation/landing5``.

Readings are timed by their own ``ts``; ``tick`` by the time it is given. Each device's
latest value of every field is kept, because a gateway reporting ``on_change`` sends a
reading with only the fields that changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from estatewatch.clock import Clock
from maintenance.domain.observations import (
    DeviceEvent,
    GatewayState,
    Observation,
    TelemetryReading,
)
from maintenance.domain.rules.condition_rule import CompiledRule, RuleIndex, compile_rule
from maintenance.domain.rules.detector import Detector
from maintenance.domain.rules.offline import GATEWAY_GRACE_S, GatewayOffline, Offline
from maintenance.domain.rules.silence import SilentLift
from maintenance.domain.rules.spec import (
    ConditionRule,
    DoorZScoreRule,
    GatewayOfflineRule,
    OfflineRule,
    RuleSpec,
    SilentLiftRule,
)
from maintenance.domain.rules.state import DeviceState, device_key
from maintenance.domain.rules.zscore import DoorZScore
from maintenance.domain.signals import DeviceRef, Signal

__all__ = ["SNAPSHOT_VERSION", "RuleEngine"]

SNAPSHOT_VERSION = 1
NO_BUILDING = ""


def _detector(rule: RuleSpec, gateway_grace: float) -> Detector:
    if isinstance(rule, DoorZScoreRule):
        return DoorZScore(rule)
    if isinstance(rule, SilentLiftRule):
        return SilentLift(rule)
    if isinstance(rule, OfflineRule):
        return Offline(rule)
    assert isinstance(rule, GatewayOfflineRule)
    return GatewayOffline(rule, gateway_grace)


class RuleEngine:
    def __init__(
        self,
        rules: Sequence[RuleSpec],
        clock: Clock,
        *,
        fault_codes: Mapping[str, Mapping[int, str]] | None = None,
        gateway_grace: float = GATEWAY_GRACE_S,
    ) -> None:
        """``fault_codes``: device type -> controller fault code -> GB/T 24476 code
        (:func:`estatewatch.gbt24476.controller_codes`), for rules that take their code
        from a fault-code field. ``gateway_grace``: seconds a gateway's "offline" waits
        for its "online" before it raises (:class:`~.offline.GatewayOffline`)."""
        self._clock = clock
        self._fault_codes = dict(fault_codes or {})
        self.rules = list(rules)
        compiled: dict[str, list[CompiledRule]] = defaultdict(list)
        detectors: dict[str, list[Detector]] = defaultdict(list)
        self._detectors: list[Detector] = []
        for rule in rules:
            if isinstance(rule, ConditionRule):
                codes = self._fault_codes.get(rule.device_type)
                compiled[rule.device_type].extend(compile_rule(rule, codes))
            else:
                detector = _detector(rule, gateway_grace)
                self._detectors.append(detector)
                detectors[rule.device_type].append(detector)
        self._rules = {t: RuleIndex(rs) for t, rs in compiled.items()}
        self._by_id = {t: {r.id: r for r in rs} for t, rs in compiled.items()}
        self._watchers = {t: tuple(ds) for t, ds in detectors.items()}
        self._devices: dict[DeviceRef, DeviceState] = {}
        self._notices: dict[str, dict[str, int]] = {}
        self._notice_rules = {r.name for r in rules if r.notice}
        # For metrics: readings, events and statuses judged, and rules applied to them.
        self.observations = 0
        self.evaluations = 0

    # --- feeding -----------------------------------------------------------------------

    def observe(self, obs: Observation) -> list[Signal]:
        out: list[Signal] = []
        self.observations += 1
        if obs.__class__ is TelemetryReading:
            assert isinstance(obs, TelemetryReading)
            self._reading(obs, out)
        elif isinstance(obs, DeviceEvent):
            dev = self._device(obs.device, obs.building)
            for detector in self._watchers.get(obs.device.device_type, ()):
                detector.event(dev, obs, out)
        elif isinstance(obs, GatewayState):
            now = self._clock().timestamp()
            for detector in self._watchers.get("gateway", ()):
                detector.gateway(obs, now, out)
        if out:
            self._count(out)
        return out

    def _reading(self, obs: TelemetryReading, out: list[Signal]) -> None:
        dev = self._devices.get(obs.device)
        if dev is None or dev.building != obs.building:
            dev = self._device(obs.device, obs.building)
        ts = obs.ts
        t = ts.timestamp()
        fields = obs.fields
        device_type = obs.device.device_type
        index = self._rules.get(device_type)
        watchers = self._watchers.get(device_type, ())
        if index is not None:
            self.evaluations += len(index.rules)
            for rule in index.concerned(fields, dev):
                rule.observe(dev, fields, t, ts, out)
        self.evaluations += len(watchers)
        for detector in watchers:
            detector.reading(dev, t, out)
        dev.values.update(fields)
        if dev.last_seen is None or t > dev.last_seen:
            dev.last_seen = t

    def tick(self, now: datetime | None = None) -> list[Signal]:
        """Time-based verdicts at ``now`` (the injected clock's time when not given)."""
        t = (now or self._clock()).timestamp()
        out: list[Signal] = []
        by_type: dict[str, list[DeviceState]] = defaultdict(list)
        for dev in self._devices.values():
            by_type[dev.ref.device_type].append(dev)
            if dev.verdicts:
                rules = self._by_id[dev.ref.device_type]
                for rule_id, verdict in list(dev.verdicts.items()):
                    rules[rule_id].tick(dev, verdict, t, out)
        for detector in self._detectors:
            detector.tick(t, by_type.get(detector.device_type, []), out)
        if out:
            self._count(out)
        return out

    def _device(self, ref: DeviceRef, building: str | None) -> DeviceState:
        dev = self._devices.get(ref)
        if dev is None:
            dev = self._devices[ref] = DeviceState(ref, building)
        elif building is not None:
            dev.building = building
        return dev

    # --- notices -----------------------------------------------------------------------

    def _count(self, signals: list[Signal]) -> None:
        for s in signals:
            if s.kind != "cleared" and s.priority is None:
                base = s.rule.split("/", 1)[0]
                if base in self._notice_rules:
                    per_building = self._notices.setdefault(base, {})
                    building = s.building or NO_BUILDING
                    per_building[building] = per_building.get(building, 0) + 1

    def notice_counts(self) -> dict[str, dict[str, int]]:
        """Notices raised or repeated so far: rule -> building ('' if untagged) -> count."""
        return {rule: dict(counts) for rule, counts in self._notices.items()}

    def active(self) -> list[tuple[DeviceRef, str]]:
        """The (device, rule id) pairs currently raised by condition rules."""
        return [
            (dev.ref, rule_id)
            for dev in self._devices.values()
            for rule_id, v in dev.verdicts.items()
            if v.active
        ]

    # --- restart -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The engine's state as plain JSON types."""
        return {
            "version": SNAPSHOT_VERSION,
            "taken_at": self._clock().timestamp(),
            "devices": {device_key(ref): dev.dump() for ref, dev in self._devices.items()},
            "detectors": {d.name: d.dump() for d in self._detectors},
            "notices": self.notice_counts(),
        }

    @classmethod
    def restore(
        cls,
        rules: Sequence[RuleSpec],
        clock: Clock,
        snapshot: dict[str, Any],
        *,
        fault_codes: Mapping[str, Mapping[int, str]] | None = None,
        gateway_grace: float = GATEWAY_GRACE_S,
        sites: Collection[str] | None = None,
    ) -> RuleEngine:
        """An engine carrying on from ``snapshot``: raised alarms stay raised, silently.

        State of rules no longer in ``rules`` is dropped; a rule new in ``rules`` starts
        from nothing. With ``sites`` (the sites this engine now judges; None: every one),
        the state of devices and gateways of other sites is dropped: a site moved to
        another worker is judged there, and its devices, whose messages no longer come
        here, must not go "offline" here.
        """
        engine = cls(rules, clock, fault_codes=fault_codes, gateway_grace=gateway_grace)
        if snapshot.get("version") != SNAPSHOT_VERSION:
            return engine  # an unknown layout: start afresh rather than misread it
        owned = _owned_by(sites)
        for key, raw in snapshot["devices"].items():
            if not owned(key):
                continue
            dev = DeviceState.load(key, raw)
            ids = engine._by_id.get(dev.ref.device_type, {})
            dev.verdicts = {r: v for r, v in dev.verdicts.items() if r in ids}
            engine._devices[dev.ref] = dev
        now = clock().timestamp()
        for detector in engine._detectors:
            saved = snapshot["detectors"].get(detector.name)
            if saved is not None:
                detector.load(saved)
                detector.forget(owned)
            detector.resume(now)
        engine._notices = {
            rule: dict(counts)
            for rule, counts in snapshot["notices"].items()
            if rule in engine._notice_rules
        }
        return engine


def _owned_by(sites: Collection[str] | None) -> Callable[[str], bool]:
    """Whether a device key (``site/type/id``) belongs to ``sites`` (None: every site)."""
    if sites is None:
        return lambda key: True
    owned = frozenset(sites)
    return lambda key: key.split("/", 1)[0] in owned
