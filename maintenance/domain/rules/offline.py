"""Device and gateway offline.

A device is offline when it has sent nothing for ``missed`` intervals (at least
``min_silence``), or at once when its gateway reports ``device_offline``; any reading or
``device_online`` clears. The interval is the rule's ``interval`` when given (a smoke
alarm's hourly heartbeat), else learned per device as a moving average of the gaps
between its readings (gaps already past the limit are outages, not intervals, and are
not learned). A restored engine counts silence from the restart, not from the last
reading before it, so a restart does not declare every device offline.

A gateway is offline when its status (or its MQTT last will) says so and it has not said
"online" again within ``grace`` seconds of that status arriving; online again when its
status says so. The grace absorbs what is not an outage: a broker restart hands every
connected worker each gateway's last will, and a gateway restarting (a clean stop, an
upgrade) says "offline" and "online" seconds apart. Time is the engine's clock at
arrival, not the status's ``ts``: a last will carries the time its connection began.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from estatewatch.wire import FieldValue
from maintenance.domain.observations import DeviceEvent, GatewayState
from maintenance.domain.rules.detector import Detector
from maintenance.domain.rules.spec import GatewayOfflineRule, OfflineRule
from maintenance.domain.rules.state import DeviceState, device_key, parse_device_key
from maintenance.domain.signals import DeviceRef, Signal

__all__ = ["GATEWAY_GRACE_S", "GatewayOffline", "Offline"]

LEARN_RATE = 0.1
GATEWAY_GRACE_S = 120.0
"""Default grace: a broker restart and the gateways' reconnect backoff fit well within it."""


@dataclass(slots=True)
class _Link:
    interval: float | None = None
    active: bool = False


class Offline(Detector):
    def __init__(self, rule: OfflineRule) -> None:
        super().__init__(rule)
        self.rule = rule
        self._links: dict[str, _Link] = {}
        self._resumed_at = 0.0

    def limit(self, link: _Link) -> float | None:
        interval = self.rule.interval or link.interval
        if interval is None:  # one reading so far: only the floor can judge it
            return self.rule.min_silence or None
        return max(self.rule.missed * interval, self.rule.min_silence)

    def reading(self, dev: DeviceState, t: float, out: list[Signal]) -> None:
        key = device_key(dev.ref)
        link = self._links.get(key)
        if link is None:
            link = self._links[key] = _Link()
        last = dev.last_seen
        if last is not None and t > last and self.rule.interval is None:
            gap = t - last
            if link.interval is None:
                link.interval = gap
            elif gap <= self.rule.missed * link.interval:
                link.interval += LEARN_RATE * (gap - link.interval)
        if link.active:
            self._end(dev, link, t, out)

    def event(self, dev: DeviceState, ev: DeviceEvent, out: list[Signal]) -> None:
        if ev.kind not in ("device_offline", "device_online"):
            return
        link = self._links.setdefault(device_key(dev.ref), _Link())
        if ev.kind == "device_online":
            if link.active:
                self._end(dev, link, ev.ts.timestamp(), out)
        elif not link.active:
            link.active = True
            reason = ev.detail.get("reason", "reported offline by its gateway")
            detail: dict[str, FieldValue] = {"reason": reason}
            out.append(
                self.announce.signal("raised", self.name, dev.ref, dev.building, ev.ts, detail)
            )

    def tick(self, now: float, devices: Iterable[DeviceState], out: list[Signal]) -> None:
        for dev in devices:
            if dev.last_seen is None:
                continue
            link = self._links.get(device_key(dev.ref))
            if link is None or link.active:
                continue
            limit = self.limit(link)
            silent = now - max(dev.last_seen, self._resumed_at)
            if limit is None or silent <= limit:
                continue
            link.active = True
            detail: dict[str, FieldValue] = {
                "silent_s": round(now - dev.last_seen),
                "reason": f"no data for {round(now - dev.last_seen)} s",
            }
            out.append(
                self.announce.signal("raised", self.name, dev.ref, dev.building, now, detail)
            )

    def _end(self, dev: DeviceState, link: _Link, t: float, out: list[Signal]) -> None:
        link.active = False
        out.append(self.announce.signal("cleared", self.name, dev.ref, dev.building, t, {}))

    def resume(self, now: float) -> None:
        self._resumed_at = now

    def dump(self) -> Any:
        return {k: {"interval": v.interval, "active": v.active} for k, v in self._links.items()}

    def load(self, raw: Any) -> None:
        self._links = {k: _Link(v["interval"], v["active"]) for k, v in raw.items()}

    def forget(self, owned: Callable[[str], bool]) -> None:
        self._links = {k: link for k, link in self._links.items() if owned(k)}


class GatewayOffline(Detector):
    def __init__(self, rule: GatewayOfflineRule, grace: float = GATEWAY_GRACE_S) -> None:
        super().__init__(rule)
        self.grace = grace
        self._offline: set[str] = set()
        # Gateways that said "offline" and not yet "online": key -> arrival time.
        self._pending: dict[str, float] = {}

    def gateway(self, state: GatewayState, now: float, out: list[Signal]) -> None:
        ref = DeviceRef(state.site, "gateway", state.gateway_id)
        key = device_key(ref)
        if state.online:
            self._pending.pop(key, None)
            if key in self._offline:
                self._offline.discard(key)
                out.append(self.announce.signal("cleared", self.name, ref, None, now, {}))
        elif key not in self._offline:
            self._pending.setdefault(key, now)
            self._due(now, out)

    def tick(self, now: float, devices: Iterable[DeviceState], out: list[Signal]) -> None:
        self._due(now, out)

    def _due(self, now: float, out: list[Signal]) -> None:
        for key, since in list(self._pending.items()):
            if now - since < self.grace:
                continue
            del self._pending[key]
            self._offline.add(key)
            ref = parse_device_key(key)
            out.append(self.announce.signal("raised", self.name, ref, None, since, {}))

    def dump(self) -> Any:
        return {"offline": sorted(self._offline), "pending": self._pending}

    def load(self, raw: Any) -> None:
        if isinstance(raw, list):  # a snapshot from before the grace: raised ones only
            raw = {"offline": raw, "pending": {}}
        self._offline = set(raw["offline"])
        self._pending = {k: float(v) for k, v in raw["pending"].items()}

    def forget(self, owned: Callable[[str], bool]) -> None:
        # A gateway's pending "offline" kept by a worker that no longer owns its site
        # would raise gateway_offline for a gateway this worker never hears come back.
        self._offline = {k for k in self._offline if owned(k)}
        self._pending = {k: t for k, t in self._pending.items() if owned(k)}
