"""The quarantine page in the browser: a manager finds a spoofed gateway and an unknown
car (as the maintenance worker notes them), blocks the one and registers the other
through its form, in Chinese on a desktop and on a 375 px phone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from conftest import NewPage, WebServer
from playwright.sync_api import Page, expect
from seeding import run
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from estatewatch.clock import utc_now
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.quarantine import Sighting
from maintenance.services.quarantine import note_sightings

Shoot = Callable[[Page, str], Path]


async def _heard(sessions: async_sessionmaker[AsyncSession]) -> None:
    first, last = utc_now() - timedelta(hours=2), utc_now() - timedelta(minutes=1)
    await note_sightings(
        SqlUnitOfWork(sessions),
        [
            Sighting(
                "demo", "elevator", "ghost-lift-99", "gw-demo", first, last, 1204,
                f"telemetry (elevator_v1) at {last.isoformat()}: car_load, door_state, speed",
            ),
            Sighting(
                "demo", "gateway", "gw-spoof", "gw-spoof", first, last, 37,
                f"status offline at {last.isoformat()}",
            ),
        ],
    )  # fmt: skip


def test_a_manager_blocks_a_spoofed_gateway_and_registers_a_new_car(
    fresh_web: WebServer, new_page: NewPage, login: Callable[..., None], shoot: Shoot
) -> None:
    run(fresh_web.data_dir, _heard)
    page = new_page()
    login(page, "manager", fresh_web)
    page.click("nav >> text=未登记设备")
    table = page.locator("#quarantine")
    expect(table).to_contain_text("ghost-lift-99")
    expect(table).to_contain_text("gw-spoof")
    expect(table).to_contain_text("1204")
    shoot(page, "quarantine-desktop-zh")

    page.click("tr[data-sender=gw-spoof] >> text=屏蔽")
    expect(page.locator(".notice")).to_contain_text("已屏蔽")
    expect(page.locator("tr[data-sender=gw-spoof]")).to_contain_text("已屏蔽")

    page.click("tr[data-sender=ghost-lift-99] >> text=登记")
    expect(page.locator("h1")).to_have_text("登记 ghost-lift-99")
    page.select_option("select[name=building]", "B1")
    page.fill("input[name=make]", "Monarch")
    page.fill("input[name=model]", "NICE3000+")
    page.fill("input[name=install_date]", "2026-11-30")
    page.fill("input[name=rated_load_kg]", "1000")
    page.fill("input[name=rated_speed_mps]", "1.75")
    page.fill("input[name=floors_served]", "1")  # a car serves two floors at least
    page.click("#register-device button.primary")
    expect(page.locator("#floors_served-error")).to_have_text("请填写 2 到 200 之间的整数。")
    shoot(page, "quarantine-register-refused-zh")
    page.fill("input[name=floors_served]", "18")
    page.click("#register-device button.primary")
    expect(page.locator(".notice")).to_contain_text("已登记")
    expect(page.locator("#quarantine")).not_to_contain_text("ghost-lift-99")

    phone = new_page(phone=True)
    login(phone, "manager", fresh_web)
    phone.goto(fresh_web.url("/admin/quarantine"))
    expect(phone.locator("tr[data-sender=gw-spoof]")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scroll
    shoot(phone, "quarantine-phone-zh")
