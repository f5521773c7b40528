"""The pure half of an MQTT source: vendor payloads to telemetry, and heartbeat liveness.

``PayloadNormaliser`` turns one received ``(topic, payload)`` into either a ``Normalised``
reading (device, UTC timestamp, fields, and a ``message`` event for anything but a
heartbeat) or a ``wire.DeadLetter`` that says why it was refused. It never raises for a
bad payload: a device's garbage is data about the device, not a gateway failure.

``OfflineTracker`` says which devices have been silent for longer than the profile's
heartbeat interval times ``missed_heartbeats``, and which came back. It owns no timer;
the caller asks it at its own pace, and its clock is injected so tests need no sleeping.

``RecentPayloads`` spots a payload delivered twice: QoS 1 is at-least-once, and a broker
restarted just after a burst sends again everything whose PUBACK it had not yet read.

Nothing here does I/O; ``gateway.mqtt_source`` is the thin aiomqtt layer on top.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from estatewatch.catalogue import Profile
from estatewatch.catalogue.payload import PayloadError, PayloadSchema
from estatewatch.errors import ConfigError
from estatewatch.wire import NAME_PATTERN, DeadLetter, FieldValue
from gateway.config import MqttSourceConfig
from gateway.metrics import DeviceState
from gateway.sink import DeviceInfo

__all__ = [
    "DEAD_LETTER_PAYLOAD_BYTES",
    "HEARTBEAT",
    "MAX_FUTURE",
    "MAX_PAYLOAD_BYTES",
    "MIN_TIMESTAMP",
    "Normalised",
    "OfflineTracker",
    "PayloadNormaliser",
    "RecentPayloads",
    "Transition",
]

DEAD_LETTER_PAYLOAD_BYTES = 8 * 1024
# Far above any real alarm message (~200 bytes): a bigger one is refused before parsing,
# so a misbehaving publisher on the local network cannot make the gateway parse megabytes.
MAX_PAYLOAD_BYTES = 64 * 1024
MIN_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=1)
HEARTBEAT = "heartbeat"
# Normalised payload names with a fixed role; every other payload field is a reading.
DEVICE_ID, TIMESTAMP, MESSAGE_TYPE = "device_id", "timestamp", "message_type"

_NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class Normalised:
    """An accepted payload: one reading, and the ``message`` event it implies, if any."""

    device: DeviceInfo
    ts: datetime
    fields: Mapping[str, FieldValue]
    # detail of a ``message`` event, for every message type but the heartbeat
    message: Mapping[str, FieldValue] | None = None


class PayloadNormaliser:
    """Validates and normalises the payloads of one MQTT source (one profile)."""

    def __init__(
        self, profile: Profile, source: MqttSourceConfig, *, site: str, gateway_id: str
    ) -> None:
        self.profile = profile
        self.source = source
        self.site, self.gateway_id = site, gateway_id
        self._schema = PayloadSchema(profile)  # refuses a non-MQTT profile
        keys = {spec.name: spec.key for spec in profile.payload}
        missing = {DEVICE_ID, TIMESTAMP} - set(keys)
        if missing:
            raise ConfigError(
                f"profile {profile.name}: an MQTT source needs payload fields"
                f" {sorted(missing)} to know whose reading it is and when"
            )
        types = {spec.name: spec.type for spec in profile.payload}
        if types[DEVICE_ID] != "str" or types[TIMESTAMP] not in ("int", "float"):
            raise ConfigError(
                f"profile {profile.name}: an MQTT source needs payload {DEVICE_ID} of type"
                f" str and {TIMESTAMP} of type int or float (Unix time)"
            )
        self._key = keys
        self._readings = [n for n in keys if n not in (DEVICE_ID, TIMESTAMP)]
        self._units = {
            spec.name: spec.unit for spec in profile.payload if spec.unit and spec.name != TIMESTAMP
        }
        self._template = (profile.topic or "").split("/")
        self._devices: dict[str, DeviceInfo] = {}

    # --- what the source calls -------------------------------------------------------

    def normalise(
        self, topic: str, payload: bytes, received_at: datetime
    ) -> Normalised | DeadLetter:
        """The reading in ``payload`` received on ``topic``, or why it is refused."""
        try:
            return self._normalise(topic, payload, received_at)
        except PayloadError as exc:
            return self.dead_letter(topic, payload, received_at, str(exc))

    def device(self, device_id: str) -> DeviceInfo:
        """The wire identity of ``device_id``: known devices get their own tags."""
        info = self._devices.get(device_id)
        if info is None:
            tags = self.source.devices.get(device_id, self.source.default_tags)
            info = DeviceInfo(
                device_id=device_id,
                device_type=self.profile.device_type,
                profile=self.profile.name,
                tags=dict(tags),
                units=self._units,
            )
            self._devices[device_id] = info
        return info

    def topic_device(self, topic: str) -> str | None:
        """The device segment of ``topic`` per the profile's template, if it matches.

        The template is matched against the topic's last levels, so a bridge that
        prefixes the vendor topics (``site1/vendor/smoke/...``) changes nothing.
        """
        levels = topic.split("/")
        if len(levels) < len(self._template):
            return None
        levels = levels[len(levels) - len(self._template) :]
        device = None
        for pattern, level in zip(self._template, levels, strict=True):
            if pattern == "{device_id}":
                device = level
            elif pattern != level:
                return None
        return device

    def dead_letter(
        self, topic: str, payload: bytes, received_at: datetime, reason: str
    ) -> DeadLetter:
        if len(payload) > DEAD_LETTER_PAYLOAD_BYTES:
            reason += f" (payload of {len(payload)} bytes, kept the first 8 KiB)"
        return DeadLetter(
            gateway_id=self.gateway_id,
            site=self.site,
            ts=received_at,
            source_topic=topic,
            reason=reason,
            payload=payload[:DEAD_LETTER_PAYLOAD_BYTES].decode("utf-8", errors="replace"),
        )

    # --- the checks, in the order a reader of a dead letter wants them ---------------

    def _normalise(self, topic: str, payload: bytes, received_at: datetime) -> Normalised:
        name = self.profile.name
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise PayloadError(
                f"{name}: payload of {len(payload)} bytes is larger than"
                f" {MAX_PAYLOAD_BYTES // 1024} KiB"
            )
        values = self._schema.parse(payload)
        device_id = values[DEVICE_ID]
        assert isinstance(device_id, str)  # the profile types it
        if not _NAME.fullmatch(device_id):
            raise PayloadError(
                f"{name}: {self._key[DEVICE_ID]} {device_id!r} is not a usable device id"
                " (1-64 letters, digits, '_', '.' or '-', starting with a letter or digit)"
            )
        if "{device_id}" in self._template:
            in_topic = self.topic_device(topic)
            if in_topic is None:
                raise PayloadError(
                    f"{name}: topic {topic!r} does not match the profile's {self.profile.topic}"
                )
            if in_topic != device_id:
                raise PayloadError(
                    f"{name}: {self._key[DEVICE_ID]} {device_id!r} does not match"
                    f" the device {in_topic!r} in topic {topic!r}"
                )
        ts = self._timestamp(values[TIMESTAMP], received_at)
        fields = {n: values[n] for n in self._readings if n in values}
        message_type = values.get(MESSAGE_TYPE)
        message: dict[str, FieldValue] | None = None
        if message_type is not None and message_type != HEARTBEAT:
            message = {MESSAGE_TYPE: message_type}
        return Normalised(self.device(device_id), ts, fields, message)

    def _timestamp(self, raw: FieldValue, received_at: datetime) -> datetime:
        key = f"{self.profile.name}: {self._key[TIMESTAMP]} {raw!r}"
        assert isinstance(raw, int | float)  # checked against the profile in __init__
        # Compared as numbers first: datetime cannot even hold a year-300000 timestamp.
        if raw < MIN_TIMESTAMP.timestamp():
            raise PayloadError(
                f"{key} is before {MIN_TIMESTAMP:%Y-%m-%d}: the alarm's clock is unset"
            )
        latest = received_at + MAX_FUTURE
        if raw > latest.timestamp():
            raise PayloadError(
                f"{key} is more than a day ahead of the gateway's clock"
                f" ({received_at:%Y-%m-%dT%H:%M:%SZ})"
            )
        return datetime.fromtimestamp(raw, UTC)


@dataclass(frozen=True)
class Transition:
    """A device went online (first message, or back after silence) or offline."""

    device_id: str
    state: DeviceState
    silent_s: float  # how long it had been silent


class OfflineTracker:
    """Heartbeat liveness of the devices of one source.

    A device is offline once silent for longer than ``limit_s``; known devices (from the
    config) count from the start, others from their first message. Silence is counted only
    while the source is listening: after a broker outage, alarms that could not reach the
    broker are not declared offline for it (``pause``/``resume``).
    """

    def __init__(
        self, limit_s: float, clock: Callable[[], float], known: Iterable[str] = ()
    ) -> None:
        if limit_s <= 0:
            raise ValueError("the offline limit must be positive")
        self.limit_s = limit_s
        self._clock = clock
        now = clock()
        self._last: dict[str, float] = dict.fromkeys(known, now)
        self._state: dict[str, DeviceState] = {}
        self._paused_at: float | None = None

    @classmethod
    def for_source(
        cls, profile: Profile, source: MqttSourceConfig, clock: Callable[[], float]
    ) -> OfflineTracker:
        interval = profile.poll_groups.get(HEARTBEAT)
        if interval is None:
            raise ConfigError(
                f"profile {profile.name}: no '{HEARTBEAT}' poll group, so there is no"
                " heartbeat interval to tell an offline device by"
            )
        return cls(interval * source.missed_heartbeats, clock, source.devices)

    def state(self, device_id: str) -> DeviceState | None:
        """ONLINE or OFFLINE once known; None for a device not heard from or judged yet."""
        return self._state.get(device_id)

    def seen(self, device_id: str) -> Transition | None:
        """Record a message; ONLINE on the first one since start or since going offline.

        The first message after start counts as a transition too: the central services
        may still hold the device offline from before a gateway restart.
        """
        now = self._clock()
        last = self._last.get(device_id, now)
        self._last[device_id] = now
        if self._state.get(device_id) is DeviceState.ONLINE:
            return None
        self._state[device_id] = DeviceState.ONLINE
        return Transition(device_id, DeviceState.ONLINE, now - last)

    def check(self) -> list[Transition]:
        """Devices that have just gone offline (each reported once per silence)."""
        if self._paused_at is not None:
            return []
        now = self._clock()
        gone = []
        for device_id, last in self._last.items():
            if now - last > self.limit_s and self._state.get(device_id) is not DeviceState.OFFLINE:
                self._state[device_id] = DeviceState.OFFLINE
                gone.append(Transition(device_id, DeviceState.OFFLINE, now - last))
        return gone

    def pause(self) -> None:
        """Stop counting silence (the source lost its broker). Idempotent."""
        if self._paused_at is None:
            self._paused_at = self._clock()

    def resume(self) -> None:
        """Count silence again, as if the pause had not happened. Idempotent."""
        if self._paused_at is None:
            return
        away = self._clock() - self._paused_at
        self._paused_at = None
        for device_id in self._last:
            self._last[device_id] += away


class RecentPayloads:
    """The last ``size`` distinct (topic, payload) pairs, to drop QoS 1 redeliveries.

    Byte-identical payloads on one topic are one message: an alarm's payload carries its
    timestamp and, from most firmwares, its own counter. Digests, not payloads, are kept,
    so the memory is bounded (about 100 bytes an entry) whatever the devices send.
    """

    def __init__(self, size: int = 4096) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._order: deque[bytes] = deque()
        self._set: set[bytes] = set()
        self._size = size

    def seen_before(self, topic: str, payload: bytes) -> bool:
        """True for a repeat; otherwise remember the pair and return False."""
        digest = hashlib.blake2b(payload, digest_size=16, key=topic.encode()[:64]).digest()
        if digest in self._set:
            return True
        self._set.add(digest)
        self._order.append(digest)
        if len(self._order) > self._size:
            self._set.discard(self._order.popleft())
        return False
