"""What the maintenance worker exposes to Prometheus (``estatewatch_maintenance_*``).

Read from the worker's own counts at scrape time (:mod:`estatewatch.metrics`): messages
and dead letters, the rule engine's observations and rule evaluations, signals, alarms,
orders, escalations, notifications and webhooks. Open work orders per site and priority
come from one grouped count as often as the SLAs are checked (``sla_interval``, 15 s:
:class:`OpenOrders`), so a scrape never waits on the database; each worker counts only
the sites it owns, so the sum over workers partitioned by site is the estate's.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from estatewatch.dead_letters import DeadLetters
from estatewatch.metrics import Reading, StateCollector, consumer_readings, dead_letter_readings
from estatewatch.mqtt import WireConsumer
from maintenance.db.read.work_orders import open_order_counts
from maintenance.domain.rules import RuleEngine
from maintenance.notification_relay import NotifyCounters
from maintenance.periodic import Periodic
from maintenance.webhooks import WebhookCounters

if TYPE_CHECKING:
    from maintenance.worker import WorkerCounters

__all__ = ["PREFIX", "OpenOrders", "WorkerReadings", "register"]

PREFIX: Final = "estatewatch_maintenance"


class OpenOrders(Periodic):
    """Open work orders per (site, priority) of ``sites`` (None: every site)."""

    def __init__(
        self,
        readers: async_sessionmaker[AsyncSession],
        sites: Collection[str] | None,
        interval: float,
    ) -> None:
        super().__init__("maintenance-open-orders", interval)
        self._readers, self._sites = readers, sites
        self.counts: dict[tuple[str, str], int] = {}

    async def step(self) -> None:
        async with self._readers() as session:
            counts = await open_order_counts(session, self._sites)
        # A priority whose last order closed reads 0 rather than vanishing.
        self.counts = dict.fromkeys(self.counts, 0) | counts


class WorkerReadings:
    """The worker's parts whose counts are exposed (the relays are optional)."""

    def __init__(
        self,
        engine: RuleEngine,
        counters: WorkerCounters,
        open_orders: OpenOrders,
        webhooks: WebhookCounters,
        notifications: NotifyCounters | None,
    ) -> None:
        self.engine, self.counters, self.open_orders = engine, counters, open_orders
        self.webhooks, self.notifications = webhooks, notifications

    def readings(self) -> list[Reading]:
        c = self.counters
        notify = self.notifications or NotifyCounters()
        hooks = self.webhooks
        counts: list[tuple[str, str, Any]] = [
            ("rule_observations_total", "readings, events and statuses judged by the rules",
             lambda: self.engine.observations),
            ("rule_evaluations_total", "rules applied to readings",
             lambda: self.engine.evaluations),
            ("quarantined_total", "messages from senders not in the asset register, held back",
             lambda: c.quarantined),
            ("signals_total", "rule verdicts (raised, cleared) handled", lambda: c.signals),
            ("alarms_raised_total", "alarms raised", lambda: c.alarms_raised),
            ("work_orders_opened_total", "work orders opened from alarms",
             lambda: c.orders_opened),
            ("sla_escalations_total", "SLA breaches escalated", lambda: c.escalations),
            ("visits_opened_total", "maintenance visits opened by the plans",
             lambda: c.visits_opened),
            ("inspection_alarms_total", "inspection certificate alarms raised",
             lambda: c.inspection_alarms),
            ("scheduler_errors_total", "scheduler ticks that failed (retried next tick)",
             lambda: c.errors),
            ("notifications_retries_total", "notification attempts to be retried",
             lambda: notify.retries),
            ("webhooks_delivered_total", "webhook deliveries accepted by the receiver",
             lambda: hooks.delivered),
            ("webhooks_failed_total", "webhook deliveries given up on", lambda: hooks.failed),
        ]  # fmt: skip
        return [
            *(Reading(f"{PREFIX}_{name}", text, read) for name, text, read in counts),
            Reading(
                f"{PREFIX}_notifications_sent_total",
                "notifications delivered, by channel",
                lambda: notify.delivered,
                labels=("channel",),
            ),
            Reading(
                f"{PREFIX}_notifications_failed_total",
                "notifications refused or given up on, by channel",
                lambda: notify.failed,
                labels=("channel",),
            ),
            Reading(
                f"{PREFIX}_open_work_orders",
                "work orders neither closed nor cancelled, by site and priority",
                lambda: self.open_orders.counts,
                kind="gauge",
                labels=("site", "priority"),
            ),
        ]


def register(
    registry: CollectorRegistry,
    consumer: WireConsumer[Any],
    dead: DeadLetters,
    worker: WorkerReadings,
) -> None:
    registry.register(
        StateCollector(
            [
                *consumer_readings(PREFIX, consumer),
                *dead_letter_readings(PREFIX, dead),
                *worker.readings(),
            ]
        )
    )
