"""The maintenance worker (``estatewatch maintenance run``): broker -> rules -> alarms and
work orders, plus the scheduler that ticks time-based rules and checks SLAs.

The composition root of detection. It consumes the telemetry, event and status topics
of its sites (``sites``, every site by default) through the kernel's
:class:`estatewatch.mqtt.WireConsumer` on its own persistent session, apart from
ingest's, which gets every message too. Each message is validated by the kernel's
central checks (:class:`estatewatch.screen.Screen`, as in ingest), turned into
observations, and judged by the :class:`~maintenance.domain.rules.RuleEngine`; each
signal goes through :func:`maintenance.services.handle_signal` in its own transaction,
and the message is acknowledged to the broker only after that commit. A crash before
then means the broker sends it again and the alarm policy absorbs the repeat (one active
alarm per device and rule). Invalid messages, and the parts the checks take out of a
message, go to the dead-letter file, as in ingest. A message from a device or gateway
the register does not know reaches no rule: its sender is quarantined
(:class:`~maintenance.gatekeeper.Gatekeeper`).

The scheduler, every ``tick_interval``: time-based rules (offline devices, silent lifts,
durations completed without new data, a gateway's "offline" past
``gateway_offline_grace``); every ``sla_interval``: SLA escalations; every
``plan_interval`` (an hour): the maintenance plans' visits and overdue alarms
(:func:`maintenance.services.plans.schedule_visits`); at start and every
``inspection_interval``: the elevators' inspection certificates of its sites
(:func:`maintenance.services.check_inspections`: reminders 30 and 7 days before expiry,
a P2 order at expiry, each once per certificate); every
``snapshot_interval`` and at shutdown: the rule engine's state to ``rule-state.json`` in
the data directory, written atomically, so a restart neither forgets baselines nor
re-raises alarms already raised. Webhooks: the worker runs the
:class:`~maintenance.webhook_relay.WebhookRelay`, which sends them from the audit trail,
so changes made through the API are announced too and a restart loses none; with a
notification settings file (``notify_path``) it runs the
:class:`~maintenance.notification_relay.NotificationRelay` the same way, sending a new
P1 or rescue order to the site's managers, on-call technician and chat groups and an
assignment to the assignee, by mail and chat robot.

Scaling out: the rule engine keeps per-device state, so a device's messages must reach
one worker. Workers therefore split by site: give each its own ``--sites``, client id and
data directory (the rule state there holds only its sites' devices: a restore drops the
others, and a second worker on the same directory is refused at start). What runs on
time is per site too: time rules tick over the devices the worker has heard, SLA
escalations, maintenance visits and inspection checks cover its sites' orders and cars.
The relays (webhooks, the regulator feed, notifications) read the whole audit trail, so
exactly one worker per database runs them and the others are started with ``relays``
off (``--no-relays``). One worker judging every site is the default and enough for most
estates (its load is small: see ``make bench``).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from estatewatch.catalogue import builtin_catalogue
from estatewatch.clock import Clock, utc_now
from estatewatch.dead_letters import DeadLetters
from estatewatch.errors import ConfigError
from estatewatch.gbt24476 import controller_codes
from estatewatch.inbound import Parsed
from estatewatch.metrics import MetricsEndpoint, process_registry
from estatewatch.mqtt import Ack, WireConsumer
from estatewatch.screen import Screen
from estatewatch.wire import EventMessage, GatewayStatus, TelemetryMessage
from maintenance.channels import NotifySettings, open_channels
from maintenance.config_files import DEFAULT_RULES, load_checklist, load_rules, load_sla_policy
from maintenance.db.engine import make_sessionmaker, open_engine
from maintenance.db.migrations import prepare_schema
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.checklists import Checklist
from maintenance.domain.observations import from_event, from_status, from_telemetry
from maintenance.domain.ports import UnitOfWork
from maintenance.domain.rules import RuleEngine
from maintenance.domain.signals import Signal
from maintenance.domain.sla import SlaPolicy
from maintenance.domain.workorders import SELF_CLEARED
from maintenance.gatekeeper import Gatekeeper
from maintenance.metrics import OpenOrders, WorkerReadings
from maintenance.metrics import register as register_metrics
from maintenance.notification_relay import NotificationRelay
from maintenance.services import (
    check_inspections,
    check_slas,
    handle_signal,
    refresh_due_times,
)
from maintenance.services.plans import schedule_visits
from maintenance.settings import MaintenanceSettings
from maintenance.webhook_relay import WebhookRelay
from maintenance.webhooks import WebhookSender, WebhookSettings

log = logging.getLogger("estatewatch.maintenance")

STATE_FILE = "rule-state.json"
LOCK_FILE = "worker.lock"


@dataclass
class WorkerCounters:
    messages: int = 0
    quarantined: int = 0
    """Messages from a device or gateway not in the register, turned away."""
    signals: int = 0
    alarms_raised: int = 0
    orders_opened: int = 0
    escalations: int = 0
    visits_opened: int = 0
    inspection_alarms: int = 0
    errors: int = 0


class Detection:
    """Messages and clock ticks in, committed alarms and work orders out (no MQTT)."""

    def __init__(
        self,
        engine: RuleEngine,
        uow: Callable[[], UnitOfWork],
        clock: Clock,
        policy: SlaPolicy,
        checklist: Checklist,
        sites: Collection[str] | None = None,
    ) -> None:
        self.engine, self._uow, self._clock = engine, uow, clock
        self.policy = policy
        self.checklist = checklist
        self.sites = sites
        """The sites whose orders, plans and certificates this worker looks after (None:
        every site)."""
        self.counters = WorkerCounters()

    async def message(self, message: TelemetryMessage | EventMessage | GatewayStatus) -> None:
        self.counters.messages += 1
        signals: list[Signal] = []
        if isinstance(message, TelemetryMessage):
            for reading in from_telemetry(message):
                signals += self.engine.observe(reading)
        elif isinstance(message, EventMessage):
            signals += self.engine.observe(from_event(message))
        else:
            signals += self.engine.observe(from_status(message))
        if signals:  # seldom: most readings change nothing
            await self.apply(signals)

    async def tick(self) -> None:
        await self.apply(self.engine.tick(self._clock()))

    async def apply(self, signals: list[Signal]) -> None:
        for signal in signals:
            self.counters.signals += 1
            outcome = await handle_signal(self._uow(), signal, self._clock)
            if outcome.alarm is not None and signal.kind == "raised":
                self.counters.alarms_raised += 1
                log.info(
                    "alarm %s: %s on %s (%s)",
                    outcome.alarm.id,
                    signal.rule,
                    signal.device,
                    signal.message,
                )
            order = outcome.work_order
            if order is not None and order.resolution == SELF_CLEARED:
                log.info(
                    "work order %s closed as self-cleared: its alarm cleared before anyone"
                    " acknowledged it",
                    order.id,
                )
            if order is not None and any(e.action == "created" for e in outcome.events):
                self.counters.orders_opened += 1
                log.info(
                    "work order %s opened: %s, %s on %s",
                    order.id,
                    order.priority,
                    order.title,
                    signal.device,
                )

    async def check_slas(self) -> None:
        result = await check_slas(self._uow(), self.policy, self._clock, sites=self.sites)
        for escalation in result.escalations:
            self.counters.escalations += 1
            log.warning(
                "SLA breach: %s %s clock, level %d (%s), %d min overdue",
                escalation.order_id,
                escalation.clock,
                escalation.level,
                escalation.notify,
                escalation.overdue_minutes,
            )

    async def schedule_visits(self) -> None:
        run = await schedule_visits(
            self._uow(), self._clock, self.checklist, self.policy, sites=self.sites
        )
        self.counters.visits_opened += len(run.visits_opened)
        for order in run.visits_opened:
            log.info("maintenance visit %s opened", order)
        for car in run.overdue:
            log.warning("maintenance visit overdue on %s", car)

    async def check_inspections(self) -> None:
        result = await check_inspections(self._uow(), self._clock, sites=self.sites)
        for outcome in result.outcomes:
            alarm = outcome.alarm
            if alarm is not None and alarm.active:
                self.counters.inspection_alarms += 1
                log.info("inspection: %s on %s (%s)", alarm.rule, alarm.device, alarm.message)


def load_engine(settings: MaintenanceSettings, clock: Clock) -> RuleEngine:
    rules = load_rules(settings.rules_path or DEFAULT_RULES)
    # The built-in profiles are the ones the gateways' controllers are read with.
    codes = controller_codes(builtin_catalogue())
    grace = settings.gateway_offline_grace
    path = settings.data_dir / STATE_FILE
    if not path.exists():
        return RuleEngine(rules, clock, fault_codes=codes, gateway_grace=grace)
    try:
        snapshot = json.loads(path.read_text())
        engine = RuleEngine.restore(
            rules,
            clock,
            snapshot,
            fault_codes=codes,
            gateway_grace=grace,
            sites=owned_sites(settings),
        )
    except (ValueError, KeyError, TypeError) as exc:
        # A damaged state file costs learned baselines, not alarms: those are in the DB.
        log.error("rule state %s unreadable (%s); starting from scratch", path, exc)
        return RuleEngine(rules, clock, fault_codes=codes, gateway_grace=grace)
    log.info("rule state restored from %s", path)
    return engine


def owned_sites(settings: MaintenanceSettings) -> tuple[str, ...] | None:
    """The sites the worker judges; None: every site."""
    return None if "+" in settings.sites else settings.sites


@contextmanager
def _own_data_dir(data_dir: Path) -> Iterator[None]:
    """Hold the data directory for this worker alone: two workers sharing one would
    overwrite each other's rule state (each keeps only its own sites' devices)."""
    with (data_dir / LOCK_FILE).open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"data_dir: {data_dir} is in use by another maintenance worker; give each"
                " worker its own data directory (--data-dir)"
            ) from None
        yield


def save_engine(engine: RuleEngine, data_dir: Path) -> None:
    path = data_dir / STATE_FILE
    temporary = path.with_suffix(".tmp")
    with temporary.open("w") as out:
        # dumps, not dump: the same text from the C encoder, where dump's chunks come from
        # the Python one (400 cars' state: 3.5 ms instead of 15, on the event loop).
        out.write(json.dumps(engine.snapshot()))
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)


@asynccontextmanager
async def running_maintenance(
    settings: MaintenanceSettings, clock: Clock = utc_now
) -> AsyncIterator[Detection]:
    """The worker running inside the ``async with``: consuming, ticking, saving state."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    policy = load_sla_policy(settings.sla_policy_path)
    checklist = load_checklist(settings.checklist_path, settings.checklist_extra)
    hooks = (
        WebhookSettings.load(settings.webhooks_path)
        if settings.webhooks_path
        else WebhookSettings(subscriptions=())
    )
    notify = NotifySettings.load(settings.notify_path) if settings.notify_path else None
    async with AsyncExitStack() as stack:
        stack.enter_context(_own_data_dir(settings.data_dir))
        engine = load_engine(settings, clock)
        dead = DeadLetters(settings.data_dir / "dead_letters.jsonl", log)
        stack.callback(dead.close)
        db = await stack.enter_async_context(open_engine(settings.database_url))
        await prepare_schema(db, migrate=settings.migrate)
        sessions = make_sessionmaker(db)
        reader = await stack.enter_async_context(open_engine(settings.database_url, read_only=True))
        # The sender only delivers what the relay publishes: idle on a worker without it.
        webhooks = await stack.enter_async_context(WebhookSender(hooks, clock))
        relay = None
        if settings.relays:
            await stack.enter_async_context(
                WebhookRelay(webhooks, sessions, make_sessionmaker(reader))
            )
        if notify is not None and settings.relays:
            channels = await stack.enter_async_context(open_channels(notify, clock))
            relay = await stack.enter_async_context(
                NotificationRelay(
                    notify,
                    channels,
                    sessions,
                    clock,
                    base_url=settings.public_base_url or "",
                    policy=policy,
                )
            )
        refreshed = await refresh_due_times(SqlUnitOfWork(sessions, sla=policy))
        if refreshed:
            log.info("maintenance: recomputed the SLA due times of %d open orders", refreshed)
        detection = Detection(
            engine,
            lambda: SqlUnitOfWork(sessions, sla=policy),
            clock,
            policy,
            checklist,
            sites=owned_sites(settings),
        )
        stack.callback(save_engine, engine, settings.data_dir)

        gate = await stack.enter_async_context(
            Gatekeeper(
                make_sessionmaker(reader), lambda: SqlUnitOfWork(sessions, sla=policy), clock
            )
        )

        async def handle(parsed: Parsed, ack: Ack) -> None:
            if parsed.refused is not None:
                dead.rejected_message(parsed.refused)
            # A bundle (wire version 2) is judged as its devices' version 1 messages, each
            # device admitted or quarantined on its own.
            for message in parsed.messages:
                if await gate.admit(parsed.gateway_id, message):
                    await detection.message(message)
                else:
                    detection.counters.quarantined += 1
            ack()

        tasks = await stack.enter_async_context(asyncio.TaskGroup())
        consumer = WireConsumer(
            settings.mqtt_host,
            settings.mqtt_port,
            name="maintenance",
            log=log,
            decoder=Screen(builtin_catalogue(), settings.screen_limits, clock),
            handler=handle,
            on_rejected=dead.rejected_message,
            client_id=settings.client_id,
            sites=settings.sites,
            username=settings.mqtt_username,
            password=settings.mqtt_password,
        )
        scheduler = tasks.create_task(_schedule(detection, settings), name="maintenance-scheduler")
        stack.callback(scheduler.cancel)
        open_orders = await stack.enter_async_context(
            OpenOrders(make_sessionmaker(reader), detection.sites, settings.sla_interval)
        )
        registry = process_registry("maintenance")
        readings = WorkerReadings(
            engine,
            detection.counters,
            open_orders,
            webhooks.counters,
            relay.counters if relay is not None else None,
        )
        register_metrics(registry, consumer, dead, readings)
        await stack.enter_async_context(
            MetricsEndpoint(
                registry,
                settings.metrics_host,
                settings.metrics_port,
                service="maintenance",
                log=log,
            )
        )
        # Reading starts last, once its work can be watched (see ingest.service).
        await stack.enter_async_context(consumer)
        log.info(
            "maintenance %s (sites %s): mqtt://%s:%d, database %s",
            settings.client_id,
            ",".join(settings.sites),
            settings.mqtt_host,
            settings.mqtt_port,
            _safe_url(settings.database_url),
        )
        yield detection
        log.info("stopping: saving rule state")


async def _schedule(detection: Detection, settings: MaintenanceSettings) -> None:
    loop = asyncio.get_running_loop()
    next_sla = next_save = next_plan = next_inspection = loop.time()
    while True:
        await asyncio.sleep(settings.tick_interval)
        try:
            await detection.tick()
            now = loop.time()
            if now >= next_sla:
                next_sla = now + settings.sla_interval
                await detection.check_slas()
            if now >= next_plan:
                next_plan = now + settings.plan_interval
                await detection.schedule_visits()
            if now >= next_inspection:
                next_inspection = now + settings.inspection_interval
                await detection.check_inspections()
            if now >= next_save:
                next_save = now + settings.snapshot_interval
                save_engine(detection.engine, settings.data_dir)
        except Exception:
            # One bad tick (a database hiccup) must not stop detection; the next retries.
            detection.counters.errors += 1
            log.exception("maintenance scheduler: a tick failed; retrying next tick")


async def run_maintenance(settings: MaintenanceSettings, stop: asyncio.Event) -> None:
    async with running_maintenance(settings) as detection:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 60.0)
            except TimeoutError:
                c = detection.counters
                log.info(
                    "%d messages, %d signals, %d alarms raised, %d work orders opened,"
                    " %d escalations so far",
                    c.messages,
                    c.signals,
                    c.alarms_raised,
                    c.orders_opened,
                    c.escalations,
                )
    log.info("maintenance stopped")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
