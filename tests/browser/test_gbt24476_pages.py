"""A fault with a GB/T 24476 code shows it where the fault shows: the duty board's alarm
and order, and the technician's list and order page on a phone, in Chinese and English."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import NewPage, WebServer, login_page
from playwright.sync_api import Page, expect
from seeding import run
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from estatewatch.clock import utc_now
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.signals import DeviceRef, Signal
from maintenance.services import handle_signal

Shoot = Callable[[Page, str], Path]
MESSAGE = "overtravel at the top: car on the final limit at 51.3 m (load 0.0 %)"
# The same alarm as a Chinese reader's board says it (api/web/alarm_messages.py).
MESSAGE_ZH = "冲顶：轿厢触及上极限开关，位置 51.3 米（载重 0.0 %）"  # noqa: RUF001


async def overtravel_on_elev06(sessions: async_sessionmaker[AsyncSession]) -> str:
    """What the maintenance worker commits for the overtravel rule: alarm and order."""
    signal = Signal(
        kind="raised",
        rule="overtravel_top",
        device=DeviceRef("demo", "elevator", "elev-06"),
        at=utc_now(),
        severity="critical",
        priority="P2",  # empty car: no P1 banner to disturb the board's other tests
        fault_kind="overtravel",
        message=MESSAGE,
        building="B3",
        code="09",
    )
    outcome = await handle_signal(SqlUnitOfWork(sessions), signal, utc_now)
    assert outcome.work_order is not None
    return outcome.work_order.id


def test_the_code_shows_on_the_board_and_the_technicians_order(
    web: WebServer, desktop: Page, new_page: NewPage, login: Callable[..., None], shoot: Shoot
) -> None:
    order_id = run(web.data_dir, overtravel_on_elev06)
    login(desktop, "manager")
    desktop.goto(web.url("/board"))
    alarm = desktop.locator(".alarm", has_text=MESSAGE_ZH)
    expect(alarm.locator(".gbt")).to_have_text("GB/T 24476 代码 09 · 冲顶")
    row = desktop.locator(f"tr[data-order='{order_id}']")
    expect(row.locator(".gbt")).to_have_text("GB/T 24476 代码 09 · 冲顶")
    shoot(desktop, "board-gbt24476-desktop-zh")

    tech = new_page(phone=True)
    login_page(tech, web, "technician")
    tech.goto(web.url("/tech"))
    card = tech.locator(f"a.order-card[href='/tech/orders/{order_id}']")
    expect(card.locator(".gbt")).to_have_text("GB/T 24476 代码 09 · 冲顶")
    card.click()
    expect(tech.locator(".facts")).to_contain_text("监管平台故障代码")
    expect(tech.locator(".facts .gbt")).to_have_text("GB/T 24476 代码 09 · 冲顶")
    shoot(tech, "tech-order-gbt24476-phone-zh")
    english = new_page(locale="en-US", phone=True)
    login_page(english, web, "technician")
    english.goto(web.url(f"/tech/orders/{order_id}"))
    expect(english.locator(".facts .gbt")).to_have_text(
        "GB/T 24476 code 09 · Overtravel at the top"
    )
