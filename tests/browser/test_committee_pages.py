"""The owners' committee at a desk: approves an order's cost, records the owners' vote
on a proposal and reads the result; the monthly report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import NewPage, WebServer, login_page
from playwright.sync_api import Page, expect
from seeding import committee_work, run

from estatewatch.clock import utc_now
from maintenance.domain.site_time import month_of


def test_the_committee_approves_a_cost_and_records_a_vote(
    fresh_web: WebServer, desktop: Page, shoot: Callable[[Page, str], Path]
) -> None:
    proposal_id = run(fresh_web.data_dir, committee_work)
    login_page(desktop, fresh_web, "committee")
    desktop.goto(fresh_web.url("/committee"))
    expect(desktop.locator("h1")).to_have_text("业主委员会")
    waiting = desktop.locator("article[data-order='WO-2026-900002']")
    expect(waiting).to_contain_text("¥12,000.00")
    shoot(desktop, "committee-desk-zh")
    waiting.locator("input[name=note]").fill("在预算内")
    waiting.locator("form[action$='/approve'] button").click()
    expect(desktop.locator("p.notice")).to_have_text("费用已批准。")
    expect(desktop.locator("article[data-order='WO-2026-900002']")).to_have_count(0)

    desktop.click(f"a[href='/committee/proposals/{proposal_id}']")
    expect(desktop.locator("#evidence-title")).to_have_text("依据")
    desktop.fill("input[name=owners_total]", "300")
    desktop.fill("input[name=area_total_m2]", "30000")
    desktop.click("form[action$='/vote'] button")
    expect(desktop.locator("p.notice")).to_contain_text("业主表决已发起")
    for name, value in (
        ("for_owners", "150"),
        ("for_area_m2", "14000"),
        ("against_owners", "40"),
        ("against_area_m2", "4500"),
        ("abstain_owners", "10"),
        ("abstain_area_m2", "1500"),
    ):
        desktop.fill(f"input[name={name}]", value)
    desktop.click("form[action$='/tally'] button")
    expect(desktop.locator("p.notice")).to_contain_text("计票结果已录入")
    expect(desktop.locator("#vote-title + p .badge")).to_have_text("已通过")
    expect(desktop.locator("table[data-result] td").first).to_have_text("2/3")
    shoot(desktop, "committee-proposal-zh")

    month = month_of(utc_now(), "UTC")  # the approval above is in this month's report
    desktop.goto(fresh_web.url(f"/committee/report?month={month}"))
    expect(desktop.locator("h1")).to_have_text(f"{month} 月度报告")
    expect(desktop.locator("#approval-title + p")).to_contain_text("WO-2026-900002 · ¥12,000.00")
    shoot(desktop, "committee-report-zh")
    desktop.emulate_media(media="print")
    expect(desktop.locator("form.actions")).to_be_hidden()
    shoot(desktop, "committee-report-print")


def test_the_committee_proposes_from_the_web_with_reasons_beside_the_fields(
    web: WebServer, new_page: NewPage, shoot: Callable[[Page, str], Path]
) -> None:
    desktop = new_page()
    login_page(desktop, web, "committee")
    desktop.goto(web.url("/committee"))
    desktop.click("a[href='/committee/proposals/new']")
    expect(desktop.locator("h1")).to_have_text("新建提案")
    hostile = "<script>alert(1)</script> 更换 elev-01 门机"
    desktop.fill("input[name=title]", hostile)
    desktop.fill("input[name=amount]", "-5")
    desktop.check("input[name=emergency]")
    desktop.click("#new-proposal button")

    # The refusal is the form again, each reason beside its field, in Chinese.
    expect(desktop.locator("p.error")).to_have_text("未能提交：请修改下面标出的内容。")  # noqa: RUF001
    expect(desktop.locator("#amount-error")).to_have_text("金额不能为负数。")
    expect(desktop.locator("input[name=amount]")).to_have_attribute("aria-invalid", "true")
    expect(desktop.locator("#title-error")).to_have_count(0)
    expect(desktop.locator("input[name=title]")).to_have_value(hostile)  # kept, as text
    shoot(desktop, "committee-proposal-form-refused-zh")
    desktop.fill("input[name=amount]", "86000.5")
    desktop.select_option("select[name=asset]", "demo/elev-01")
    desktop.click("#new-proposal button")
    # What the domain adds to the model: an emergency needs its justification.
    expect(desktop.locator("#justification-error")).to_have_text(
        "紧急提案必须说明理由：危及哪些人、有何危险。"  # noqa: RUF001
    )
    expect(desktop.locator("select[name=asset]")).to_have_value("demo/elev-01")
    desktop.fill("textarea[name=justification]", "门机老化，已两次困人")  # noqa: RUF001
    desktop.click("#new-proposal button")

    expect(desktop.locator("p.notice")).to_have_text("提案已创建。准备好后即可发起业主表决。")
    expect(desktop.locator("h1")).to_have_text(hostile)  # the title is text, not a script
    expect(desktop.locator("script", has_text="alert(1)")).to_have_count(0)
    facts = desktop.locator(".facts").first
    expect(facts).to_contain_text("¥86,000.50")
    expect(facts).to_contain_text("elev-01")
    expect(desktop.locator("#evidence-title")).to_have_text("依据")

    english = new_page(locale="en-GB")
    login_page(english, web, "manager")
    english.goto(web.url("/committee/proposals/new"))
    english.fill("input[name=amount]", "12,000")
    english.click("#new-proposal button")
    expect(english.locator("#title-error")).to_have_text("Give the proposal a title.")
    expect(english.locator("#amount-error")).to_have_text(
        "Write the amount as a number of yuan, e.g. 120000 or 8500.50."
    )
