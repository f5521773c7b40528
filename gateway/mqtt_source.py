"""One local MQTT source (smoke alarms on a site broker): subscribe, normalise, hand on.

``MqttSource`` is an async context manager owning one :class:`estatewatch.mqtt.Link` to
the site's broker and the offline check, a named task. Each accepted payload becomes a
reading (and a ``message`` event unless it is a heartbeat) on the ``StoringSink`` (the
outbox); each refused one a ``wire.DeadLetter`` for ``on_dead_letter``, counted in the
metrics and logged with its reason, at most once a minute per device.

The subscription is QoS 1 on a persistent MQTT 3.1.1 session under a fixed client id
(``estatewatch-gw-{gateway_id}-{source}`` unless the config names one), so what the
alarms publish while the gateway restarts waits in the broker instead of being lost.
**A message is acknowledged only once it is stored**: its ack is handed to the sink's
``when_stored``, which the outbox calls after the flush that put the message on the
durable queue (at once for an alarm, within ``batch_interval`` for a heartbeat). A
message the gateway had received but not yet stored when it died is delivered again to
its next connection. Byte-identical redeliveries (QoS 1 is at-least-once) are dropped
within one run.

Poison. No payload ends the gateway. The catalogue's parser is bounded (size, depth), so
garbage becomes a dead letter; a payload that still makes this code raise becomes one
too ("cannot be handled: ..."), counted in ``errors["mqtt_source_failed"]``, and is
acknowledged, so it cannot wedge the subscription. A *retained* payload that was
dead-lettered is remembered (:mod:`gateway.retained_poison`, a file next to the buffer)
and skipped when the broker sends it again at the next subscribe, so it is dead-lettered
once, not at every start. A failure outside one message (the sink, the offline check) is
counted the same way and logged; the link then reconnects with backoff, so a source that
keeps failing is isolated, retried at most once a minute and visible in the status's
``errors``, while the rest of the gateway runs.

Errors. Broker trouble never reaches the caller: the link logs one warning per outage
(as "MQTT source <name>", under this module's logger) and retries with exponential
backoff and jitter; each outage is counted in ``errors["mqtt_source_lost"]``. The
constructor raises :class:`estatewatch.errors.ConfigError` when the topic filter is not
valid MQTT or the profile lacks device_id, timestamp or a heartbeat poll group, and
``__aenter__`` when a TLS file cannot be read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from estatewatch.catalogue import Profile
from estatewatch.errors import ConfigError
from estatewatch.mqtt import Link, Message, tls_context, valid_filter
from estatewatch.wire import DeadLetter
from gateway.config import MqttSourceConfig
from gateway.metrics import DeviceState, GatewayMetrics
from gateway.retained_poison import RetainedDeadLetters
from gateway.sink import StoringSink
from gateway.smoke_normalise import OfflineTracker, PayloadNormaliser, RecentPayloads, Transition

__all__ = ["DeadLetterLog", "MqttSource", "client_id"]

log = logging.getLogger(__name__)


CHECK_INTERVAL_S = 10.0
DEAD_LETTER_LOG_WINDOW_S = 60.0
# MQTT 3.1.1 keeps a persistent session until a clean connect; the value only says so.
_PERSISTENT: Final = 1


def client_id(gateway_id: str, source: MqttSourceConfig) -> str:
    """The fixed client id the broker keeps this source's session under."""
    return source.client_id or f"estatewatch-gw-{gateway_id}-{source.name}"


@dataclass
class _Window:
    opened_at: float
    suppressed: int = 0
    last_reason: str = ""


class DeadLetterLog:
    """Logs dead letters at WARNING: the first per key and minute, then only a count.

    A broken alarm firmware can send garbage every few seconds; one line a minute per
    device keeps the log readable and the disk from filling, and the count says how bad.
    """

    def __init__(
        self,
        logger: logging.Logger,
        clock: Callable[[], float],
        window_s: float = DEAD_LETTER_LOG_WINDOW_S,
    ) -> None:
        self._log, self._clock, self._window_s = logger, clock, window_s
        self._windows: dict[str, _Window] = {}

    def record(self, key: str, letter: DeadLetter) -> None:
        now = self._clock()
        self._close_expired(now)
        window = self._windows.get(key)
        if window is not None:
            window.suppressed += 1
            window.last_reason = letter.reason
            return
        self._windows[key] = _Window(now)
        self._log.warning("dead letter from %s on %s: %s", key, letter.source_topic, letter.reason)

    def flush(self) -> None:
        """Report the counts of windows that have ended; call it now and then."""
        self._close_expired(self._clock())

    def close(self) -> None:
        """Report every count still open, so none is lost when the source stops."""
        self._close_expired(None)

    def _close_expired(self, now: float | None) -> None:
        for key, window in list(self._windows.items()):
            if now is not None and now - window.opened_at < self._window_s:
                continue
            del self._windows[key]
            if window.suppressed:
                self._log.warning(
                    "dead letter from %s: %d more within %g s (latest: %s)",
                    key,
                    window.suppressed,
                    self._window_s,
                    window.last_reason,
                )


class MqttSource:
    """Async context manager: one subscription on one local broker, one profile."""

    def __init__(
        self,
        config: MqttSourceConfig,
        profile: Profile,
        *,
        site: str,
        gateway_id: str,
        sink: StoringSink,
        on_dead_letter: Callable[[DeadLetter], None],
        metrics: GatewayMetrics,
        clock: Callable[[], float] = time.monotonic,
        backoff: tuple[float, float] = (1.0, 60.0),
        check_interval: float = CHECK_INTERVAL_S,
        connect_timeout: float = 5.0,
        state_dir: Path | None = None,
    ) -> None:
        """``state_dir`` keeps what must outlive a run (the retained payloads that were
        dead-lettered); None keeps it in memory only."""
        problem = valid_filter(config.topic)
        if problem is not None:
            raise ConfigError(
                f"mqtt_sources ({config.name}).topic: {config.topic!r} is not a valid"
                f" MQTT topic filter: {problem}"
            )
        self.config = config
        self.name = config.name
        self.client_id = client_id(gateway_id, config)
        self._normaliser = PayloadNormaliser(profile, config, site=site, gateway_id=gateway_id)
        self._tracker = OfflineTracker.for_source(profile, config, clock)
        self._tracker.pause()  # silence counts from the first connection on
        self._sink, self._on_dead_letter, self._metrics = sink, on_dead_letter, metrics
        self._dead_log = DeadLetterLog(log, clock)
        self._recent = RecentPayloads()
        self._retained = RetainedDeadLetters(
            None if state_dir is None else state_dir / f"retained-dead-letters-{config.name}.json"
        )
        self._backoff, self._check_interval = backoff, check_interval
        self._connect_timeout = connect_timeout
        self._link: Link | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._checker: asyncio.Task[None] | None = None
        self.received = 0
        self.duplicates = 0
        self.dead_letters = 0
        self.retained_skipped = 0

    @property
    def offline_limit_s(self) -> float:
        return self._tracker.limit_s

    @property
    def connected(self) -> bool:
        return self._link is not None and self._link.connected

    def device_state(self, device_id: str) -> DeviceState | None:
        return self._tracker.state(device_id)

    # --- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        c = self.config
        where = f"mqtt_sources ({self.name}).tls"
        # Read once at start: a missing certificate is a config fault, not an outage.
        tls = None if c.tls is None else await asyncio.to_thread(tls_context, c.tls, where)
        await asyncio.to_thread(self._retained.load)
        self._link = Link(
            c.host,
            c.port,
            name=f"MQTT source {self.name}",
            log=log,
            client_id=self.client_id,
            username=c.username,
            password=c.password,
            tls=tls,
            # Vendor and bridge brokers on site may speak only 3.1.1.
            mqtt5=False,
            session_expiry_s=_PERSISTENT,
            keepalive=c.keepalive,
            subscriptions=[c.topic],
            on_message=self._handle,
            on_outage=self._outage,
            on_connection=self._connection_changed,
            backoff=self._backoff,
            connect_timeout=self._connect_timeout,
        )
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        self._checker = self._tasks.create_task(
            self._check_offline(), name=f"mqtt-source {self.name} offline"
        )
        # Subscribed before returning when the broker is there; never fail when it is not.
        await self._link.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tasks is not None, "__aexit__ without __aenter__"
        assert self._link is not None
        assert self._checker is not None
        tasks, self._tasks = self._tasks, None
        try:
            await self._link.__aexit__(exc_type, exc, tb)
        finally:
            # A TaskGroup only ends once its tasks do; the check loops forever.
            self._checker.cancel()
            await tasks.__aexit__(exc_type, exc, tb)
            self._dead_log.close()

    def _connection_changed(self, up: bool) -> None:
        # Silence counts only while we can hear: a broker outage declares no alarm offline.
        if up:
            self._tracker.resume()
        else:
            self._tracker.pause()

    def _outage(self, was_connected: bool) -> None:
        self._metrics.error("mqtt_source_lost")

    # --- messages --------------------------------------------------------------------

    async def _handle(self, message: Message) -> None:
        topic, payload = message.topic, message.payload
        if message.retain and self._retained.known(topic, payload):
            self.retained_skipped += 1
            log.debug("MQTT source %s: skipped the retained dead letter on %s", self.name, topic)
            message.ack()
            return
        # Acknowledged once stored: after the flush that puts what this message became (or
        # its dead letter, or for a repeat, the first copy) on the durable queue.
        self._sink.when_stored(message.ack)
        try:
            dead = self._accept(topic, payload)
        except Exception as exc:
            self._metrics.error("mqtt_source_failed")
            log.exception("MQTT source %s: a message on %s could not be handled", self.name, topic)
            reason = f"cannot be handled: {type(exc).__name__}: {exc}"
            self._dead(topic, self._normaliser.dead_letter(topic, payload, _now(), reason))
            dead = True
        if dead and message.retain:
            await asyncio.to_thread(self._retained.remember, topic, payload)

    def _accept(self, topic: str, payload: bytes) -> bool:
        """Hand the message on; True if it became a dead letter."""
        self.received += 1
        if self._recent.seen_before(topic, payload):
            self.duplicates += 1
            log.debug("MQTT source %s: dropped a redelivered message on %s", self.name, topic)
            return False
        received_at = _now()
        result = self._normaliser.normalise(topic, payload, received_at)
        if isinstance(result, DeadLetter):
            self._dead(topic, result)
            return True
        device = result.device
        transition = self._tracker.seen(device.device_id)
        if transition is not None:
            self._apply(transition, received_at)
        # Anything but a heartbeat (an alarm, a low battery, a removal) goes out at once.
        urgent = result.message is not None
        self._sink.reading(device, result.ts, result.fields, urgent=urgent)
        if result.message is not None:
            self._sink.event(device, result.ts, "message", result.message)
        return False

    def _dead(self, topic: str, letter: DeadLetter) -> None:
        self.dead_letters += 1
        self._metrics.dead_letters += 1
        self._dead_log.record(self._normaliser.topic_device(topic) or topic, letter)
        self._on_dead_letter(letter)

    def _apply(self, transition: Transition, ts: datetime) -> None:
        device = self._normaliser.device(transition.device_id)
        self._metrics.device_states[device.device_id] = transition.state
        if transition.state is DeviceState.OFFLINE:
            log.info(
                "MQTT source %s: %s offline, silent for %.0f s",
                self.name,
                device.device_id,
                transition.silent_s,
            )
            reason = f"no message for {transition.silent_s:.0f} s"
            self._sink.event(device, ts, "device_offline", {"reason": reason})
        else:
            self._sink.event(device, ts, "device_online", {})

    async def _check_offline(self) -> None:
        while True:
            await asyncio.sleep(self._check_interval)
            try:
                now = _now()
                for transition in self._tracker.check():
                    self._apply(transition, now)
                self._dead_log.flush()
            except Exception:
                # The check is this source's own: a failure must not end the gateway.
                self._metrics.error("mqtt_source_failed")
                log.exception("MQTT source %s: the offline check failed", self.name)


def _now() -> datetime:
    return datetime.now(UTC)
