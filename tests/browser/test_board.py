"""The duty board in the browser: a fault committed while the board is open appears on it
without a reload (alarm, P1 order, banner, the car's tile), and the manager assigns the
new order in one click."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from conftest import WebServer
from playwright.sync_api import Page, expect
from seeding import MANAGER, run
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.users import NewUser, create_user, get_user, set_active
from estatewatch.clock import utc_now
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.signals import DeviceRef, Signal
from maintenance.services import create_order, handle_signal

Shoot = Callable[[Page, str], Path]
MESSAGE = "elev-03 轿厢困人, 门区外停梯"


async def trapped_in_elev03(sessions: async_sessionmaker[AsyncSession]) -> str:
    """What the maintenance worker commits for a trapped-passenger signal: an alarm and a
    P1 work order (its id)."""
    signal = Signal(
        kind="raised",
        rule="board-test-trapped",
        device=DeviceRef("demo", "elevator", "elev-03"),
        at=utc_now(),
        severity="critical",
        priority="P1",
        fault_kind="board_test_trapped",
        message=MESSAGE,
        building="B3",
    )
    outcome = await handle_signal(SqlUnitOfWork(sessions), signal, utc_now)
    assert outcome.work_order is not None
    return outcome.work_order.id


def test_a_fault_appears_on_the_open_board_and_is_assigned_in_one_click(
    web: WebServer, desktop: Page, login: Callable[..., None], shoot: Shoot
) -> None:
    login(desktop, "manager")
    desktop.goto(web.url("/board"))
    expect(desktop.locator("h1")).to_have_text("值班看板")
    expect(desktop.locator(".alarms")).not_to_contain_text(MESSAGE)
    # The board is subscribed once its stream is open; then the fault is committed.
    expect(desktop.locator("#live.connected")).to_have_count(1)

    order_id = run(web.data_dir, trapped_in_elev03)

    expect(desktop.locator(".alarms")).to_contain_text(MESSAGE)
    expect(desktop.locator("#p1-banner")).to_be_visible()
    expect(desktop.locator("#p1-banner")).to_contain_text(order_id)
    row = desktop.locator(f"tr[data-order='{order_id}']")
    expect(row).to_contain_text("P1")
    # The countdown ticks in the browser from the stored due time: m:ss, coloured.
    expect(row.locator(".countdown")).to_have_text(re.compile(r"^-?\d+:\d\d"))
    expect(row.locator(".countdown")).to_have_class(re.compile(r"\b(ok|soon|late)\b"))
    expect(desktop.locator(".tile.fault")).to_contain_text("elev-03")
    shoot(desktop, "board-desktop-zh")

    row.locator(".assign button").click()
    expect(row.locator(".assign button")).to_have_text("改派")
    expect(row.locator(".assign select")).to_have_value("sun")


async def unassigned_order_and_technician(sessions: async_sessionmaker[AsyncSession]) -> str:
    """A new P3 order on elev-06 and a second technician of the site, han (the order id)."""
    now = utc_now()
    han = NewUser(username="han", role="technician", display_name="Han", sites=["demo"])
    await create_user(SqlUnitOfWork(sessions), han, actor="cli:test", at=now)
    created = await create_order(
        SqlUnitOfWork(sessions),
        MANAGER,
        utc_now,
        title="elev-06 门关不严",
        asset="demo/elevator/elev-06",
        site="demo",
        category="elevator",
        fault_kind="board_test_door",
        priority="P3",
    )
    return created.order.id


async def deactivate_han(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        admin = await get_user(session, "zhao")
    await set_active(SqlUnitOfWork(sessions), admin, "han", False, at=utc_now())


def test_an_order_for_someone_who_cannot_take_it_is_refused_on_the_board(
    web: WebServer, desktop: Page, login: Callable[..., None], shoot: Shoot
) -> None:
    order_id = run(web.data_dir, unassigned_order_and_technician)
    login(desktop, "manager")
    desktop.goto(web.url("/board"))
    row = desktop.locator(f"tr[data-order='{order_id}']")
    row.locator(".assign select").select_option("han")
    # Han leaves while the board is open: the list still offers him.
    run(web.data_dir, deactivate_han)
    row.locator(".assign button").click()

    refused = "han 的账号已停用：请另选他人。"  # noqa: RUF001
    expect(desktop.locator("#panel .error")).to_have_text(refused)
    expect(row.locator(".state")).to_have_text("新建")
    expect(row.locator(".assign button")).to_have_text("派单")
    shoot(desktop, "board-refused-desktop-zh")
    # The board is still the board: the next assignment goes through.
    row.locator(".assign select").select_option("sun")
    row.locator(".assign button").click()
    expect(row.locator(".assign button")).to_have_text("改派")
    expect(desktop.locator("#panel .error")).to_have_count(0)
