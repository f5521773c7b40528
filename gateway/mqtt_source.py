"""One local MQTT source (smoke alarms on a site broker): subscribe, normalise, hand on.

``MqttSource`` is an async context manager owning one broker connection and two named
tasks in a TaskGroup: the connection loop and the offline check. Each accepted payload
becomes a reading (and a ``message`` event unless it is a heartbeat) on the ``Sink``;
each refused one a ``wire.DeadLetter`` for ``on_dead_letter``, counted in the metrics and
logged with its reason, at most once a minute per device.

The subscription is QoS 1 on a persistent session under a fixed client id
(``estatewatch-gw-{gateway_id}-{source}`` unless the config names one), so what the
alarms publish while the gateway restarts waits in the broker instead of being lost.
Byte-identical redeliveries (QoS 1 is at-least-once) are dropped within one run.
Caveat: aiomqtt acknowledges a message when it is queued in memory, before the sink has
it, so a crash can still lose the few messages received but not yet handed on.

Errors. Broker trouble never reaches the caller: aiomqtt and socket errors are translated
at this boundary into ``DeviceError``, logged as one warning per outage and retried with
exponential backoff and jitter. The tree (``estatewatch.errors``):

    ConfigError    raised by the constructor (the topic filter is not valid MQTT; the
                   profile lacks device_id, timestamp or a heartbeat poll group) and by
                   ``__aenter__`` (a TLS file cannot be read)
    DeviceError    used inside only: a connection failed or was lost; never escapes

Exceptions from the ``Sink`` or ``on_dead_letter`` are bugs and propagate from
``__aexit__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode

from estatewatch.backoff import Backoff
from estatewatch.catalogue import Profile
from estatewatch.errors import ConfigError, DeviceError
from estatewatch.wire import DeadLetter
from gateway.config import MqttSourceConfig
from gateway.metrics import DeviceState, GatewayMetrics
from gateway.sink import Sink
from gateway.smoke_normalise import OfflineTracker, PayloadNormaliser, RecentPayloads, Transition

__all__ = ["DeadLetterLog", "MqttSource", "client_id"]

log = logging.getLogger(__name__)


class _LostSocketIsDebug(logging.Filter):
    # paho logs a lost socket at ERROR; the source reports the same loss as its one
    # warning per outage, so paho's line is only detail.
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and str(record.msg).startswith("failed to receive"):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


_client_log = log.getChild("client")
_client_log.addFilter(_LostSocketIsDebug())

QOS = 1
CHECK_INTERVAL_S = 10.0
DEAD_LETTER_LOG_WINDOW_S = 60.0


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
        sink: Sink,
        on_dead_letter: Callable[[DeadLetter], None],
        metrics: GatewayMetrics,
        clock: Callable[[], float] = time.monotonic,
        backoff: tuple[float, float] = (1.0, 60.0),
        check_interval: float = CHECK_INTERVAL_S,
        connect_timeout: float = 5.0,
    ) -> None:
        try:
            aiomqtt.Wildcard(config.topic)
        except ValueError as exc:
            raise ConfigError(
                f"mqtt_sources ({config.name}).topic: {config.topic!r} is not a valid"
                f" MQTT topic filter: {exc}"
            ) from exc
        self.config = config
        self.name = config.name
        self.client_id = client_id(gateway_id, config)
        self._normaliser = PayloadNormaliser(profile, config, site=site, gateway_id=gateway_id)
        self._tracker = OfflineTracker.for_source(profile, config, clock)
        self._tracker.pause()  # silence counts from the first connection on
        self._sink, self._on_dead_letter, self._metrics = sink, on_dead_letter, metrics
        self._dead_log = DeadLetterLog(log, clock)
        self._recent = RecentPayloads()
        self._backoff, self._check_interval = backoff, check_interval
        self._connect_timeout = connect_timeout
        self._tls: ssl.SSLContext | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._attempted = asyncio.Event()
        self._warned = False
        self.connected = False
        self.received = 0
        self.duplicates = 0
        self.dead_letters = 0

    @property
    def offline_limit_s(self) -> float:
        return self._tracker.limit_s

    def device_state(self, device_id: str) -> DeviceState | None:
        return self._tracker.state(device_id)

    # --- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._tls = self._tls_context()
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        self._loops = [
            self._tasks.create_task(self._run(), name=f"mqtt-source {self.name}"),
            self._tasks.create_task(self._check_offline(), name=f"mqtt-source {self.name} offline"),
        ]
        # Subscribed before returning when the broker is there; never fail when it is not.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._connect_timeout):
                await self._attempted.wait()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tasks is not None, "__aexit__ without __aenter__"
        tasks, self._tasks = self._tasks, None
        # A TaskGroup only ends once its tasks do; ours loop forever, so they are told to.
        for task in self._loops:
            task.cancel()
        try:
            await tasks.__aexit__(exc_type, exc, tb)
        finally:
            self._dead_log.close()

    # --- the connection --------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext | None:
        tls = self.config.tls
        if tls is None:
            return None
        # Read once at start: a missing certificate is a config fault, not an outage.
        try:
            context = ssl.create_default_context(cafile=tls.ca_file)
            if tls.cert_file is not None:
                context.load_cert_chain(tls.cert_file, tls.key_file)
        except OSError as exc:  # ssl.SSLError is one
            raise ConfigError(f"mqtt_sources ({self.name}).tls: {exc}") from exc
        if tls.insecure:
            context.check_hostname = False
        return context

    def _client(self) -> aiomqtt.Client:
        c = self.config
        return aiomqtt.Client(
            c.host,
            c.port,
            username=c.username,
            password=c.password,
            identifier=self.client_id,
            # MQTT 3.1.1 persistent session: the broker keeps the subscription and queues
            # QoS 1 messages while the gateway is away.
            clean_session=False,
            keepalive=max(1, round(c.keepalive)),
            timeout=self._connect_timeout,
            tls_context=self._tls,
            logger=_client_log,
        )

    async def _run(self) -> None:
        backoff = Backoff(*self._backoff)
        while True:
            try:
                await self._session()
            except DeviceError as exc:
                self._lost(exc)
            finally:
                if self.connected:
                    backoff.reset()
                self.connected = False
                self._tracker.pause()
                self._attempted.set()
            await asyncio.sleep(backoff.next())

    async def _session(self) -> None:
        where = f"MQTT source {self.name} ({self.config.host}:{self.config.port})"
        try:
            async with self._client() as client:
                granted = await client.subscribe(self.config.topic, qos=QOS)
                self._subscribed(granted)
                async for message in client.messages:
                    payload = message.payload
                    if not isinstance(payload, bytes):
                        payload = b"" if payload is None else str(payload).encode()
                    self._handle(message.topic.value, payload)
        except (aiomqtt.MqttError, OSError) as exc:
            # aiomqtt's "Disconnected during message iteration" hides why in its cause.
            reason = f"{exc}: {exc.__cause__}" if exc.__cause__ else str(exc)
            phase = "connection lost" if self.connected else "cannot connect"
            raise DeviceError(f"{where}: {phase}: {reason}") from exc
        raise DeviceError(f"{where}: connection lost: the message stream ended")

    def _subscribed(self, granted: tuple[int, ...] | list[ReasonCode]) -> None:
        code = granted[0] if granted else 0x80
        value = code if isinstance(code, int) else code.value
        if value >= 0x80:
            raise DeviceError(
                f"MQTT source {self.name}: the broker refused the subscription to"
                f" {self.config.topic!r} (code {value})"
            )
        if value < QOS:
            log.warning(
                "MQTT source %s: the broker granted QoS %d for %s; alarms sent while the"
                " gateway is away will be lost",
                self.name,
                value,
                self.config.topic,
            )
        was_warned = self._warned
        self.connected, self._warned = True, False
        self._tracker.resume()
        self._attempted.set()
        log.log(
            logging.INFO if was_warned else logging.DEBUG,
            "MQTT source %s: %s to %s on %s:%d as %s",
            self.name,
            "reconnected, subscribed" if was_warned else "subscribed",
            self.config.topic,
            self.config.host,
            self.config.port,
            self.client_id,
        )

    def _lost(self, error: DeviceError) -> None:
        if self._warned:
            log.debug("%s; still retrying", error)
            return
        self._warned = True
        self._metrics.error("mqtt_source_lost")
        log.warning("%s; retrying with backoff", error)

    # --- messages --------------------------------------------------------------------

    def _handle(self, topic: str, payload: bytes) -> None:
        self.received += 1
        if self._recent.seen_before(topic, payload):
            self.duplicates += 1
            log.debug("MQTT source %s: dropped a redelivered message on %s", self.name, topic)
            return
        received_at = datetime.now(UTC)
        result = self._normaliser.normalise(topic, payload, received_at)
        if isinstance(result, DeadLetter):
            self.dead_letters += 1
            self._metrics.dead_letters += 1
            self._dead_log.record(self._normaliser.topic_device(topic) or topic, result)
            self._on_dead_letter(result)
            return
        device = result.device
        transition = self._tracker.seen(device.device_id)
        if transition is not None:
            self._apply(transition, received_at)
        # Anything but a heartbeat (an alarm, a low battery, a removal) goes out at once.
        urgent = result.message is not None
        self._sink.reading(device, result.ts, result.fields, urgent=urgent)
        if result.message is not None:
            self._sink.event(device, result.ts, "message", result.message)

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
            now = datetime.now(UTC)
            for transition in self._tracker.check():
                self._apply(transition, now)
            self._dead_log.flush()
