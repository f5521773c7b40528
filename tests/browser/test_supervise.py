"""The supervisor on a phone: resolved work waits on /supervise; one order is verified,
another reopened (a reopen without its reason is refused on the page)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from conftest import WebServer
from playwright.sync_api import Page, expect
from seeding import MANAGER, TECH, run
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from estatewatch.clock import utc_now
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.workorders import Status, WorkOrder

Shoot = Callable[[Page, str], Path]
ORDERS = {"WO-2026-900301": "elev-04 门机异响", "WO-2026-900302": "elev-06 平层不准"}


async def resolved_orders(sessions: async_sessionmaker[AsyncSession]) -> None:
    created = utc_now() - timedelta(hours=3)
    step = timedelta(minutes=10)
    async with SqlUnitOfWork(sessions) as uow:
        for order_id, title in ORDERS.items():
            car = title.split()[0]
            order = WorkOrder.open(
                id=order_id,
                title=title,
                asset=f"demo/elevator/{car}",
                site="demo",
                category="elevator",
                fault_kind="supervise_test",
                priority="P3",
                source="staff",
                now=created,
                created_by=MANAGER,
            )
            order.assign(MANAGER, created + step, assignee=TECH.user_id)
            order.acknowledge(TECH, created + 2 * step)
            order.start(TECH, created + 3 * step, approval_threshold=Decimal(5000))
            order.resolve(TECH, created + 4 * step, approval_threshold=Decimal(5000))
            assert order.status == Status.RESOLVED
            await uow.work_orders.add(order)
        await uow.commit()


def test_a_supervisor_verifies_one_order_and_reopens_another(
    web: WebServer, phone: Page, login: Callable[..., None], shoot: Shoot
) -> None:
    run(web.data_dir, resolved_orders)
    login(phone, "supervisor")
    phone.goto(web.url("/supervise"))
    expect(phone.locator("h1")).to_have_text("待验收")
    verify_me, reopen_me = (phone.locator(f"[data-order='{i}']") for i in ORDERS)
    expect(verify_me).to_contain_text(ORDERS["WO-2026-900301"])
    expect(reopen_me).to_contain_text(ORDERS["WO-2026-900302"])
    shoot(phone, "supervise-phone-zh")

    verify_me.locator("textarea[name=note]").fill("已试乘三次 无异响")
    verify_me.locator("form[action$='/verify'] button").click()
    expect(phone.locator(".notice")).to_have_text("已验收通过。")
    expect(verify_me).to_have_count(0)

    reopen_me.locator("form[action$='/reopen'] button").click()
    expect(reopen_me.locator(".error")).to_be_visible()
    reopen_me.locator("textarea[name=reason]").fill("3楼仍有约2厘米高差")
    reopen_me.locator("form[action$='/reopen'] button").click()
    expect(phone.locator(".notice")).to_contain_text("已退回返工")
    expect(reopen_me).to_have_count(0)
