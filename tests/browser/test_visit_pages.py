"""A maintenance visit on a technician's phone: the checklist filled in, a defect found,
the record sent; the safety manager reads and signs it on the desktop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import NewPage, WebServer, login_page
from playwright.sync_api import Page, expect
from seeding import run
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from estatewatch.clock import utc_now
from maintenance.config_files import load_checklist
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Actor
from maintenance.domain.sla import SlaPolicy
from maintenance.services.plans import schedule_visits


async def visit_for_sun(sessions: async_sessionmaker[AsyncSession]) -> str:
    """elev-01's first visit (the yearly one), assigned to and acknowledged by sun."""
    policy = SlaPolicy()
    uow = SqlUnitOfWork(sessions, sla=policy)
    await schedule_visits(uow, utc_now, load_checklist(), policy)
    async with uow:
        visit = await uow.visits.pending_for("demo/elevator/elev-01")
        assert visit is not None
        order = await uow.work_orders.get(visit.order_id)
        assert order is not None
        order.assign(Actor("qian", "manager"), utc_now(), assignee="sun")
        order.acknowledge(Actor("sun", "technician"), utc_now())
        await uow.commit()
    return visit.order_id


def test_a_visit_recorded_on_a_phone_and_signed_on_the_desktop(
    fresh_web: WebServer, phone: Page, new_page: NewPage, shoot: Callable[[Page, str], Path]
) -> None:
    order = run(fresh_web.data_dir, visit_for_sun)
    login_page(phone, fresh_web, "technician")
    phone.goto(fresh_web.url(f"/tech/orders/{order}"))
    phone.click(f"a[href='/tech/visits/{order}']")
    expect(phone.locator("h1")).to_contain_text("年度维保")
    items = phone.locator("ol.checklist > li")
    expect(items).to_have_count(76)
    phone.fill("input[name=others]", "zhou")
    for item in load_checklist().items_for("yearly"):
        if item.reading is not None:  # a value within the item's limits
            low, high = item.reading.min, item.reading.max
            phone.fill(f"input[name=reading-{item.name}]", f"{low if low is not None else high:g}")
    # A shallow door lock at 7F: a defect, with a note.
    lock = items.filter(has_text="HM29")
    lock.locator("input[value=defect]").check()
    lock.locator("input[name=reading-HM29]").fill("5")
    lock.locator("input[name=note-HM29]").fill("7 楼层门 5 mm")
    shoot(phone, "visit-phone-zh")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375  # nothing pushes the page sideways on a phone
    phone.click("form.visit-form button.primary")
    phone.wait_for_url(f"**/tech/orders/{order}")
    expect(phone.locator("dl.facts")).to_contain_text("已修复")

    desk = new_page()
    login_page(desk, fresh_web, "manager")
    desk.goto(fresh_web.url(f"/visits/{order}"))
    expect(desk.locator("li.item.defect")).to_have_count(1)
    expect(desk.locator("li.item.defect")).to_contain_text("维修工单 WO-")
    desk.click("form[action$='/sign'] button")
    expect(desk.locator("dl.facts")).to_contain_text("qian")
    shoot(desk, "visit-record-desktop-zh")
