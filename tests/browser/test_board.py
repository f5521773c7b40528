"""The duty board in the browser: a fault committed while the board is open appears on it
without a reload (alarm, P1 order, banner, the car's tile), and the manager assigns the
new order in one click."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from conftest import WebServer
from playwright.sync_api import Page, expect
from seeding import run
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from estatewatch.clock import utc_now
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.signals import DeviceRef, Signal
from maintenance.services import handle_signal

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
