"""Staff's order page (/orders/{id}): the manager opens an order from the duty board on a
desktop and assigns it there; the supervisor opens resolved work from /supervise on a
phone and verifies it; the committee reads the same page with no desk action, and a
form it posts anyway is refused as the JSON API would refuse it."""

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
NEW, RESOLVED = "WO-2026-900401", "WO-2026-900402"


async def two_orders(sessions: async_sessionmaker[AsyncSession]) -> None:
    created = utc_now() - timedelta(hours=2)
    step = timedelta(minutes=10)
    async with SqlUnitOfWork(sessions) as uow:
        for order_id, title in ((NEW, "elev-03 轿门关闭缓慢"), (RESOLVED, "elev-05 按钮失灵")):
            order = WorkOrder.open(
                id=order_id,
                title=title,
                asset=f"demo/elevator/{title.split()[0]}",
                site="demo",
                category="elevator",
                fault_kind="staff_page_test",
                priority="P2",
                source="staff",
                now=created,
                created_by=MANAGER,
            )
            if order_id == RESOLVED:
                order.assign(MANAGER, created + step, assignee=TECH.user_id)
                order.acknowledge(TECH, created + 2 * step)
                order.start(TECH, created + 3 * step, approval_threshold=Decimal(5000))
                order.comment(TECH, created + 4 * step, text="更换了3楼外呼按钮")
                order.resolve(TECH, created + 5 * step, approval_threshold=Decimal(5000))
                assert order.status == Status.RESOLVED
            await uow.work_orders.add(order)
        await uow.commit()


def _actions(page: Page) -> list[str]:
    forms = page.locator("section.actions form")
    return [
        (forms.nth(i).get_attribute("action") or "").rsplit("/", 1)[-1]
        for i in range(forms.count())
    ]


def test_staff_open_orders_and_act_as_their_role_allows(
    web: WebServer,
    desktop: Page,
    phone: Page,
    new_page: Callable[..., Page],
    login: Callable[..., None],
    shoot: Shoot,
) -> None:
    run(web.data_dir, two_orders)

    # The manager, on the duty board: the order's title opens its page.
    login(desktop, "manager")
    desktop.goto(web.url("/board"))
    desktop.locator(f"tr[data-order='{NEW}'] a.title").click()
    expect(desktop).to_have_url(web.url(f"/orders/{NEW}"))
    expect(desktop.locator("h1")).to_contain_text("elev-03 轿门关闭缓慢")
    expect(desktop.locator("ul.clocks li")).not_to_have_count(0)
    assert _actions(desktop) == ["assign", "comment", "cancel"]
    shoot(desktop, "staff-order-desktop-zh")
    desktop.locator("form.assign select").select_option(TECH.user_id)
    desktop.locator("form.assign button").click()
    expect(desktop.locator(".facts")).to_contain_text("已派单")
    expect(desktop.locator("ol.timeline")).to_contain_text("派")
    # Cancelling needs its reason: without one the page says so and nothing changes.
    desktop.locator("form.cancel input[name=reason]").evaluate("el => el.required = false")
    desktop.locator("form.cancel button").click()
    expect(desktop.locator("#order .error")).to_be_visible()
    expect(desktop.locator(".facts")).to_contain_text("已派单")

    # The supervisor, from the list to verify, on a phone: verify, never cancel.
    login(phone, "supervisor")
    phone.goto(web.url("/supervise"))
    phone.locator(f"[data-order='{RESOLVED}'] a.title").click()
    expect(phone).to_have_url(web.url(f"/orders/{RESOLVED}"))
    expect(phone.locator("ol.timeline")).to_contain_text("更换了3楼外呼按钮")
    assert _actions(phone) == ["verify", "fail_verification", "comment"]
    shoot(phone, "staff-order-phone-zh")
    phone.locator("form.verify textarea[name=note]").fill("已试乘 按钮正常")
    phone.locator("form.verify button").click()
    expect(phone.locator(".facts")).to_contain_text("已确认")

    # The committee reads the page; a cancel it posts anyway is the 403 page.
    committee = new_page()
    login(committee, "committee")
    committee.goto(web.url(f"/orders/{NEW}"))
    assert _actions(committee) == ["comment"]
    token = committee.locator("input[name=csrf_token]").first.input_value()
    refused = committee.request.post(
        web.url(f"/orders/{NEW}/cancel"), form={"csrf_token": token, "reason": "不需要了"}
    )
    assert refused.status == 403
    committee.reload()
    expect(committee.locator(".facts")).to_contain_text("已派单")

    # A technician has their own order page: the order's address (a notification's link)
    # sends them there, and staff's desk actions are not theirs.
    tech = new_page(phone=True)
    login(tech, "technician")
    tech.goto(web.url(f"/orders/{NEW}"))
    assert tech.url == web.url(f"/tech/orders/{NEW}")
    token = tech.locator("input[name=csrf_token]").first.input_value()
    refused = tech.request.post(
        web.url(f"/orders/{NEW}/cancel"), form={"csrf_token": token, "reason": "不需要了"}
    )
    assert refused.status == 403
