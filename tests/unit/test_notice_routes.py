"""The committee's and residents' notices, the routing table and the daily digest
(maintenance.domain.routes, .committee_notices, .digest: pure, under a fake clock)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from estatewatch.errors import ConfigError
from maintenance.channels.settings import NotifySettings
from maintenance.domain.committee_notices import ProposalFacts, render_proposal
from maintenance.domain.digest import (
    DigestFacts,
    compose_digest,
    digest_day,
    digest_key,
    digest_period,
    render_digest,
)
from maintenance.domain.kpis import KpiFrames, SlaCompliance, compute_kpis
from maintenance.domain.notices import OrderFacts, Routed, render
from maintenance.domain.routes import (
    DEFAULT_ROUTES,
    ORDER_ACTIONS,
    addressed,
    order_notice,
    proposal_notice,
    render_notice,
)
from maintenance.domain.workorders import Status, WorkOrder

ZONE = "Asia/Shanghai"
T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
ORDER = OrderFacts(
    id="WO-2026-000009",
    site="demo",
    title="楼道灯不亮",
    place="3号楼1单元",
    priority="P3",
    category="lighting",
    asset="demo/building/3/stairwell",
    fault_kind="light_out",
    due_at=T0 + timedelta(hours=1),
    timezone=ZONE,
)
ASK = "work_order.request_approval"
VERIFY = "work_order.verify"
PEOPLE = {"committee": ["c1", "c2"], "manager": ["m1", "c1"], "technician": ["t1"]}


@pytest.mark.parametrize(
    ("action", "before", "after", "source", "expected"),
    [
        (ASK, "in_progress", "awaiting_approval", "staff", "approval_needed"),
        (ASK, "in_progress", "awaiting_approval", "resident", "approval_needed"),
        ("work_order.assign", "new", "assigned", "resident", "request_update"),
        ("work_order.acknowledge", "assigned", "acknowledged", "resident", "request_update"),
        ("work_order.start", "acknowledged", "in_progress", "resident", "request_update"),
        ("work_order.resume", "on_hold", "in_progress", "resident", "request_update"),
        ("work_order.resolve", "in_progress", "resolved", "resident", "request_update"),
        ("work_order.assign", "assigned", "assigned", "resident", None),  # re-assigned: same state
        ("work_order.assign", "new", "assigned", "staff", None),  # staff's own order
        ("work_order.assign", "new", "assigned", "alarm", None),
        ("work_order.comment", "assigned", "assigned", "resident", None),
        # A request that stops or ends is news to its resident too.
        ("work_order.hold", "in_progress", "on_hold", "resident", "request_update"),
        ("work_order.close", "verified", "closed", "resident", "request_update"),
        ("work_order.cancel", "new", "cancelled", "resident", "request_update"),
        ("work_order.cancel", "in_progress", "cancelled", "staff", None),
        # Their own confirmation or dispute is not news to them.
        ("work_order.verify", "resolved", "verified", "resident", None),
        ("work_order.fail_verification", "resolved", "reopened", "resident", None),
    ],
)  # fmt: skip
def test_which_order_actions_the_table_routes(
    action: str, before: str, after: str, source: str, expected: str | None
) -> None:
    # The actor: the staff's for the staff's steps, the resident's for theirs.
    actor = "resident:r-1" if action in {VERIFY, "work_order.fail_verification"} else "manager:m1"
    assert order_notice(action, before, after, source, actor=actor, requester="r-1") == expected
    if expected is not None:
        assert action in ORDER_ACTIONS  # the relay's cheap filter lets it through


def test_a_resident_is_told_when_the_supervisor_confirms_the_fix_for_them() -> None:
    routed = order_notice(
        VERIFY, "resolved", "verified", "resident", actor="supervisor:s1", requester="r-1"
    )

    assert routed == "request_update"
    assert VERIFY in ORDER_ACTIONS


def test_the_cheap_filter_is_the_actions_that_reach_a_told_state() -> None:
    assert {
        "work_order.request_approval",
        "work_order.assign",
        "work_order.acknowledge",
        "work_order.start",
        "work_order.resume",
        "work_order.resolve",
        "work_order.return_to_service",
        "work_order.hold",
        "work_order.close",
        "work_order.cancel",
        "work_order.false_alarm",
        VERIFY,
    } == ORDER_ACTIONS


def test_proposal_actions() -> None:
    assert [proposal_notice(a) for a in ("proposal.created", "proposal.vote_opened")] == [
        "proposal_opened",
        "vote_opened",
    ]
    assert proposal_notice("proposal.decided") == "vote_decided"
    assert proposal_notice("proposal.archived") is None


def test_an_audience_is_roles_the_requester_and_groups_each_person_once() -> None:
    assert addressed("vote_opened", DEFAULT_ROUTES["vote_opened"], PEOPLE) == Routed(
        "vote_opened", ("c1", "c2"), groups=False
    )
    both = addressed("approval_needed", ("committee", "manager", "groups"), PEOPLE)
    assert both == Routed("approval_needed", ("c1", "c2", "m1"), groups=True)
    mine = addressed("request_update", DEFAULT_ROUTES["request_update"], PEOPLE, "res-a")
    assert mine == Routed("request_update", ("res-a",), groups=False)
    # A requester is only ever a request's: no other notice reaches a resident that way.
    assert addressed("digest", ("requester",), PEOPLE, "res-a").users == ()
    assert addressed("request_update", (), PEOPLE, "res-a").users == ()  # turned off


def test_a_residents_update_says_the_state_and_links_their_request_page() -> None:
    link = "https://estate.test/my/requests/WO-2026-000009"
    update = replace(ORDER, status="acknowledged")
    subject, text = render("request_update", update, "zh-CN", now=T0, link=link)
    assert subject == "【报修进度】已受理：楼道灯不亮"  # noqa: RUF001
    assert text.splitlines() == ["地点：3号楼1单元", f"查看：{link}"]  # noqa: RUF001
    subject, text = render(
        "request_update", replace(update, status="resolved"), "en", now=T0, link=link
    )
    assert subject == "[Your request] Resolved, please confirm: 楼道灯不亮"
    assert "Priority" not in text
    assert "Time left" not in text
    assert Routed("request_update", (), False).fold_key(update) != Routed(
        "request_update", (), False
    ).fold_key(replace(update, status="resolved"))  # each step goes at once


def test_a_request_put_on_hold_or_cancelled_says_why_and_a_closed_one_that_it_is_done() -> None:
    link = "https://estate.test/my/requests/WO-2026-000009"
    held = replace(ORDER, status="on_hold", reason="等灯具到货")
    subject, text = render("request_update", held, "zh-CN", now=T0, link=link)
    assert subject == "【报修进度】暂停处理：楼道灯不亮"  # noqa: RUF001
    assert text.splitlines() == ["地点：3号楼1单元", "原因：等灯具到货", f"查看：{link}"]  # noqa: RUF001
    cancelled = replace(ORDER, status="cancelled", reason="Reported twice: see WO-2026-000008")
    subject, text = render("request_update", cancelled, "en", now=T0, link=link)
    assert subject == "[Your request] Cancelled: 楼道灯不亮"
    assert "Reason: Reported twice: see WO-2026-000008" in text.splitlines()
    # A resolution's note is not a reason: only a request that stops says why.
    closed = replace(ORDER, status="closed", reason="换了灯泡")
    subject, text = render("request_update", closed, "zh-CN", now=T0, link=link)
    assert subject == "【报修进度】已办结：楼道灯不亮"  # noqa: RUF001
    assert "换了灯泡" not in text
    # A notification stored before reasons were kept still renders.
    stored = {k: v for k, v in held.as_json().items() if k != "reason"}
    assert OrderFacts.from_json(stored) == replace(held, reason=None)
    assert OrderFacts.from_json(held.as_json()) == held


def test_an_approval_says_the_amount() -> None:
    facts = replace(ORDER, amount="12800.00")
    subject, text = render("approval_needed", facts, "en", now=T0, link="L")
    assert subject == "[Approval needed] Repair cost: 楼道灯不亮"
    assert "Cost estimate: CNY 12800.00" in text.splitlines()
    assert "Time left" not in text


def test_committee_notices_about_a_proposal() -> None:
    facts = ProposalFacts("PRP-1", "demo", "3号楼电梯大修", "380000.00", emergency=True)
    subject, text = render_proposal("proposal_opened", facts, "zh-CN", link="L")
    assert subject == "【待业委会审议】维修资金申请：3号楼电梯大修"  # noqa: RUF001
    assert text.splitlines() == [
        "金额：380000.00 元",  # noqa: RUF001
        "紧急申请：可由业委会直接决定",  # noqa: RUF001
        "查看：L",  # noqa: RUF001
    ]
    assert render_proposal("vote_opened", facts, "en", link="L")[0] == (
        "[Owners' vote opened] 3号楼电梯大修"
    )
    passed = render_proposal("vote_decided", replace(facts, passed=True), "en", link="L")
    failed = render_proposal("vote_decided", replace(facts, passed=False), "zh-CN", link="L")
    assert passed[0] == "[Vote result] Passed: 3号楼电梯大修"
    assert failed[0] == "【表决结果】未通过：3号楼电梯大修"  # noqa: RUF001
    assert ProposalFacts.from_json(facts.as_json()) == facts


def test_the_digest_is_due_from_its_hour_on_for_the_sites_date() -> None:
    at = time(8, 0)
    seven_59 = datetime(2026, 12, 6, 23, 59, tzinfo=UTC)  # 07:59 on the 7th in Shanghai
    assert digest_day(seven_59, ZONE, at) is None
    assert digest_day(seven_59 + timedelta(minutes=1), ZONE, at) == date(2026, 12, 7)
    assert digest_day(T0 + timedelta(hours=13), ZONE, at) == date(2026, 12, 7)  # 23:00
    assert digest_day(T0 + timedelta(hours=14), ZONE, at) is None  # 00:00 on the 8th
    assert digest_day(seven_59, "Europe/London", time(23, 30)) == date(2026, 12, 6)
    assert digest_key("demo", date(2026, 12, 7)) == "digest:demo@2026-12-07"


def test_the_digest_covers_the_sites_previous_day() -> None:
    assert digest_period(date(2026, 12, 7), ZONE) == (
        datetime(2026, 12, 5, 16, tzinfo=UTC),
        datetime(2026, 12, 6, 16, tzinfo=UTC),
    )


def _order(number: int, site: str, priority: str, status: Status) -> WorkOrder:
    order = WorkOrder.open(
        id=f"WO-2026-{number:06d}",
        title="t",
        asset=f"{site}/elevator/elev-{number}",
        site=site,
        category="elevator",
        fault_kind="door",
        priority=priority,  # type: ignore[arg-type]
        source="staff",
        now=T0,
    )
    order.status = status
    return order


def test_the_digest_composes_the_kpis_and_what_is_open_at_the_site() -> None:
    start, end = digest_period(date(2026, 12, 7), ZONE)
    kpis = compute_kpis(KpiFrames(), start, end).model_copy(
        update={
            "orders_created": 5,
            "orders_closed": 3,
            "response_sla": SlaCompliance(met=3, breached=2, pending=0, share=0.6),
        }
    )
    open_orders = [
        _order(1, "demo", "P1", Status.ASSIGNED),
        _order(2, "demo", "P1", Status.NEW),
        _order(3, "demo", "P3", Status.AWAITING_APPROVAL),
        _order(4, "other", "P1", Status.AWAITING_APPROVAL),  # another compound's
    ]
    facts = compose_digest("demo", date(2026, 12, 7), kpis, open_orders, ["demo", None, "other"])
    assert facts == DigestFacts(
        site="demo",
        day="2026-12-06",
        created=5,
        closed=3,
        response_breached=2,
        feedback_breached=0,
        rescues=0,
        open_p1=2,
        awaiting_approval=1,
        open_proposals=2,  # its own and the one about no asset
    )
    subject, text = render_notice("digest", facts.as_json(), "en", now=T0, link="L")
    assert subject == "[Daily digest] demo 2026-12-06"
    assert text.splitlines() == [
        "Orders opened 5, closed 3",
        "Overdue: response 2, feedback 0",
        "Lift rescues 0",
        "Now: open P1 orders 2, costs awaiting approval 1, fund proposals open 2",
        "View: L",
    ]
    assert render_digest(facts, "zh-CN", link="L")[0] == "【每日简报】demo 2026-12-06"


def _load(tmp_path: Path, site: str) -> NotifySettings:
    path = tmp_path / "notify.yaml"
    path.write_text("sites:\n  demo:\n" + site, encoding="utf-8")
    return NotifySettings.load(path)


def test_the_routing_table_has_defaults_and_takes_a_site_s_own(tmp_path: Path) -> None:
    demo = _load(tmp_path, "    routes:\n      vote_decided: [committee, manager, groups]\n").sites[
        "demo"
    ]
    assert demo.routes.vote_decided == ("committee", "manager", "groups")
    assert demo.routes.request_update == ("requester",)
    assert demo.routes.digest == ("committee",)
    assert demo.digest_at == time(8, 0)
    later = _load(tmp_path, "    digest_at: '07:30'\n    routes: {digest: []}\n").sites["demo"]
    assert (later.digest_at, later.routes.digest) == (time(7, 30), ())


@pytest.mark.parametrize(
    ("site", "problem"),
    [
        (
            "    routes:\n      vote_opened: [committee, owners]\n",
            r"sites\.demo\.routes\.vote_opened\[1\]: Input should be 'committee'",
        ),
        (
            "    routes:\n      digest: [requester]\n",
            r"sites\.demo\.routes\.digest: .*only a resident's request",
        ),
        ("    routes:\n      votes: [committee]\n", r"sites\.demo\.routes\.votes: Extra inputs"),
        ("    digest_at: 8:00\n", r"sites\.demo\.digest_at: .*\"HH:MM\" \(quoted\), got 480"),
        ("    digest_at: '25:00'\n", r"sites\.demo\.digest_at: .*got '25:00'"),
    ],
)
def test_a_bad_route_names_the_file_and_the_field(tmp_path: Path, site: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as caught:
        _load(tmp_path, site)
    assert str(tmp_path / "notify.yaml") in str(caught.value)
