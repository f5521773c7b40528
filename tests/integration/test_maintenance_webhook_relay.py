"""WebhookRelay: changes committed to a real SQLite file reach a real local receiver,
and a relay stopped before the receiver confirmed sends again after the restart.

The receiver is the one of ``test_maintenance_webhooks.py`` (signature checked, a
scripted status per path, 200 once the script runs out).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import pytest
from people_support import add_technicians
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from test_maintenance_webhooks import Receiver, now, receiver, settings, subscription

from maintenance import services
from maintenance.db import webhook_cursor
from maintenance.db.engine import make_engine, make_sessionmaker
from maintenance.db.migrations import upgrade
from maintenance.db.tables import AuditRow
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain import commands as cmd
from maintenance.domain.actors import Actor
from maintenance.domain.signals import DeviceRef, Signal, SignalKind
from maintenance.domain.sla import SlaPolicy
from maintenance.sites import load_site_file
from maintenance.webhook_relay import WebhookRelay
from maintenance.webhooks import WebhookSender

pytestmark = pytest.mark.integration

__all__ = ["receiver"]  # the imported fixture: pytest finds it here by name


INTERVAL = 0.05
DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
MANAGER = Actor("mgr-1", "manager")
TECH = Actor("tech-1", "technician")


def p1_signal(elevator: str) -> Signal:
    return Signal(
        kind="raised",
        rule="entrapment",
        device=DeviceRef("demo", "elevator", elevator),
        at=now(),
        severity="critical",
        priority="P1",
        fault_kind="entrapment",
        message="passenger trapped",
        building="B3",
    )


@dataclass
class Db:
    sessions: async_sessionmaker[AsyncSession]
    readers: async_sessionmaker[AsyncSession]

    async def p1_order(self, elevator: str) -> str:
        outcome = await services.handle_signal(
            SqlUnitOfWork(self.sessions), p1_signal(elevator), now
        )
        assert outcome.work_order is not None
        return outcome.work_order.id

    async def act(self, command: cmd.OrderCommand, actor: Actor) -> None:
        await services.perform(SqlUnitOfWork(self.sessions), command, actor, now, SlaPolicy())

    async def audit_id(self, action: str, entity_id: str) -> int:
        async with self.readers() as session:
            found = await session.scalar(
                select(AuditRow.id).where(
                    AuditRow.action == action, AuditRow.entity_id == entity_id
                )
            )
        assert found is not None
        return found

    async def cursor(self) -> int | None:
        async with self.readers() as session:
            return await webhook_cursor.load(session)

    async def newest(self) -> int | None:
        async with self.readers() as session:
            return await session.scalar(select(AuditRow.id).order_by(AuditRow.id.desc()))

    async def caught_up(self) -> None:
        """Wait until the stored cursor is at the newest audit entry."""
        async with asyncio.timeout(5.0):
            while await self.cursor() != await self.newest():  # noqa: ASYNC110 -- polled
                await asyncio.sleep(0.01)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Db]:
    url = db_url
    writer, reader = make_engine(url), make_engine(url, read_only=True)
    await upgrade(writer)
    await add_technicians(make_sessionmaker(writer), TECH.user_id)  # who orders go to
    yield Db(make_sessionmaker(writer), make_sessionmaker(reader))
    await reader.dispose()
    await writer.dispose()


@asynccontextmanager
async def relaying(db: Db, url: str, **overrides: float) -> AsyncIterator[WebhookSender]:
    hooks = settings(
        subscription(url, "work_order.created_p1", "approval.needed", "sla.breached"),
        **overrides,
    )
    async with (
        WebhookSender(hooks, now) as sender,
        WebhookRelay(sender, db.sessions, db.readers, interval=INTERVAL),
    ):
        yield sender


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5.0):
        while not condition():  # noqa: ASYNC110 -- the receiver has no event to await
            await asyncio.sleep(0.01)


async def test_committed_changes_are_delivered_once_with_signatures(
    db: Db, receiver: Receiver
) -> None:
    await db.p1_order("elev-01")  # history: not replayed on the first start
    async with relaying(db, receiver.url("/hook")):
        order = await db.p1_order("elev-02")
        await db.act(cmd.Assign(order, assignee="tech-1"), MANAGER)
        await db.act(cmd.Acknowledge(order), TECH)
        await db.act(cmd.SetCost(order, estimate=Decimal("12000")), MANAGER)
        await db.act(cmd.RequestApproval(order, reason="new door operator"), MANAGER)
        await until(lambda: len(receiver.requests) == 2)
        await db.caught_up()
        await asyncio.sleep(10 * INTERVAL)  # time enough for a repeat, if one were sent
    created, asked = receiver.requests
    assert [r.status for r in receiver.requests] == [200, 200]
    assert all(r.signature_ok for r in receiver.requests)
    assert (created.document["type"], asked.document["type"]) == (
        "work_order.created_p1",
        "approval.needed",
    )
    assert created.document["id"] == str(await db.audit_id("work_order.created", order))
    assert asked.document["id"] == str(await db.audit_id("work_order.request_approval", order))
    assert created.document["data"]["work_order"] == order  # type: ignore[index]
    assert asked.document["data"]["amount"] == "12000"  # type: ignore[index]


async def test_what_was_not_confirmed_is_sent_after_a_restart_and_nothing_twice(
    db: Db, receiver: Receiver
) -> None:
    receiver.script["/hook"] = [503] * 1000  # down until told otherwise
    async with relaying(db, receiver.url("/hook"), max_attempts=30, drain_timeout_s=0.1):
        order = await db.p1_order("elev-03")
        await until(lambda: len(receiver.requests) >= 2)  # tried, retried, not confirmed
    event_id = str(await db.audit_id("work_order.created", order))
    assert {r.document["id"] for r in receiver.requests} == {event_id}
    assert (await db.cursor() or 0) < int(event_id)  # it stayed before the unconfirmed event

    receiver.script["/hook"].clear()  # the receiver is back
    failed = len(receiver.requests)
    async with relaying(db, receiver.url("/hook")):
        await until(lambda: any(r.status == 200 for r in receiver.requests))
        await db.caught_up()
    (delivered,) = receiver.requests[failed:]
    assert (delivered.document["id"], delivered.status) == (event_id, 200)
    assert delivered.signature_ok

    async with relaying(db, receiver.url("/hook")):  # confirmed: not sent again
        await asyncio.sleep(10 * INTERVAL)
    assert len(receiver.requests) == failed + 1


# --- the regulator feed ------------------------------------------------------------------


def coded_signal(kind: SignalKind, elevator: str) -> Signal:
    return replace(
        p1_signal(elevator),
        kind=kind,
        rule="overtravel_top",
        priority="P2",
        fault_kind="overtravel",
        message="overtravel at the top",
        code="09",
    )


async def test_coded_alarms_reach_the_regulator_keyed_by_registration_code(
    db: Db, receiver: Receiver
) -> None:
    async with SqlUnitOfWork(db.sessions) as uow:
        await uow.sites.import_file(load_site_file(DEMO), actor="cli:test", at=now(), source="t")
        await uow.commit()
    receiver.script["/regulator"] = [503]  # the platform is briefly down: retried
    hooks = settings(
        subscription(receiver.url("/regulator"), "regulator.report"),
        subscription(receiver.url("/hook"), "work_order.created_p1"),
    )
    async with (
        WebhookSender(hooks, now) as sender,
        WebhookRelay(sender, db.sessions, db.readers, interval=INTERVAL),
    ):
        signals = [coded_signal("raised", "elev-01"), coded_signal("cleared", "elev-01")]
        for signal in signals:
            await services.handle_signal(SqlUnitOfWork(db.sessions), signal, now)
        await db.p1_order("elev-02")  # an uncoded P1: a webhook, no report
        await until(lambda: sum(r.status == 200 for r in receiver.at("/regulator")) == 2)
        await db.caught_up()
        await asyncio.sleep(10 * INTERVAL)
    first, *delivered = receiver.at("/regulator")
    assert first.status == 503
    assert [r.status for r in delivered] == [200, 200]
    assert all(r.signature_ok for r in receiver.requests)
    assert first.document["id"] == delivered[0].document["id"], "the retry is the same event"
    raised, cleared = (r.document for r in delivered)
    alarm = raised["data"]["alarm"]  # type: ignore[index]
    assert raised["type"] == "regulator.report"
    assert raised["id"] == str(await db.audit_id("alarm.raised", alarm))
    assert raised["data"] == {
        "registration_code": "31103301002008090001",  # elev-01's in the demo site file
        "code": "09",
        "kind": "fault",
        "name": "overtravel at the top",
        "state": "raised",
        "at": signals[0].at.isoformat(),
        "alarm": alarm,
        "site": "demo",
        "device_id": "elev-01",
        "rule": "overtravel_top",
    }
    assert cleared["data"]["state"] == "cleared"  # type: ignore[index]
    assert cleared["data"]["code"] == "09"  # type: ignore[index]
    assert [r.document["type"] for r in receiver.at("/hook")] == ["work_order.created_p1"]


async def test_a_car_without_a_registration_code_is_not_reported(
    db: Db, receiver: Receiver
) -> None:
    hooks = settings(subscription(receiver.url("/regulator"), "regulator.report"))
    async with (
        WebhookSender(hooks, now) as sender,
        WebhookRelay(sender, db.sessions, db.readers, interval=INTERVAL),
    ):
        await services.handle_signal(
            SqlUnitOfWork(db.sessions), coded_signal("raised", "elev-01"), now
        )
        await db.caught_up()
        await asyncio.sleep(10 * INTERVAL)
    assert receiver.requests == []
