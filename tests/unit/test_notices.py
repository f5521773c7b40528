"""Routing, the on-call rota, folding and the message table (maintenance.domain.notices)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from maintenance.domain.notices import (
    ROUTED_ACTIONS,
    OrderFacts,
    Routed,
    Shift,
    held_until,
    language_of,
    on_duty,
    render,
    route,
    warned,
    warning_due,
)

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
FACTS = OrderFacts(
    id="WO-2026-000007",
    site="demo",
    title="电梯困人",
    place="3号楼1单元",
    priority="P1",
    category="elevator",
    asset="demo/elevator/elev-01",
    fault_kind="entrapment",
    due_at=T0 + timedelta(minutes=10),
    timezone="Asia/Shanghai",
)


@pytest.mark.parametrize(
    ("action", "detail", "category", "expected"),
    [
        (
            "work_order.created",
            {"priority": "P1"},
            "elevator",
            Routed("p1_opened", ("m", "t"), True),
        ),
        ("work_order.created", {"priority": "P2"}, "elevator", None),
        (
            "work_order.created",
            {"priority": "P2"},
            "rescue",
            Routed("rescue_opened", ("m", "t"), True),
        ),
        (
            "work_order.priority_raised",
            {"to": "P1"},
            "elevator",
            Routed("p1_opened", ("m", "t"), True),
        ),
        ("work_order.priority_raised", {"to": "P2"}, "elevator", None),
        ("work_order.assign", {"assignee": "li"}, "elevator", Routed("assigned", ("li",), False)),
        ("work_order.acknowledge", {}, "elevator", None),
    ],
)
def test_route(action: str, detail: dict[str, str], category: str, expected: Routed | None) -> None:
    assert route(action, detail, category, managers=["m", "t"], on_call=["t"]) == expected


def test_the_rota_runs_past_midnight_and_an_open_line_is_always_on() -> None:
    rota = [Shift("day", time(8), time(20)), Shift("night", time(20), time(8)), Shift("boss")]
    assert on_duty(rota, time(7, 59)) == ["night", "boss"]
    assert on_duty(rota, time(8)) == ["day", "boss"]
    assert on_duty(rota, time(23, 30)) == ["night", "boss"]


def test_a_repeat_waits_for_the_end_of_the_window_that_began_with_the_last_one() -> None:
    window = timedelta(minutes=10)
    assert held_until(None, T0, window) == T0
    assert held_until(T0, T0 + timedelta(minutes=3), window) == T0 + window
    assert held_until(T0, T0 + timedelta(minutes=11), window) == T0 + timedelta(minutes=11)


def test_languages() -> None:
    assert [language_of(x) for x in ("en", "zh_CN", None)] == ["en", "zh-CN", "zh-CN"]


def test_a_message_says_time_left_or_how_late_in_site_time() -> None:
    link = "https://estate.test/orders/WO-2026-000007"
    subject, text = render("p1_opened", FACTS, "zh-CN", now=T0 + timedelta(seconds=30), link=link)
    assert subject == "【P1】新工单：电梯困人"  # noqa: RUF001
    assert text.splitlines() == [
        "地点：3号楼1单元",  # noqa: RUF001
        "优先级：P1",  # noqa: RUF001
        "剩余时间：9 分钟（10:10 前）",  # noqa: RUF001
        f"处理：{link}",  # noqa: RUF001
    ]
    _, late = render(
        "rescue_opened",
        FACTS,
        "en",
        now=T0 + timedelta(minutes=25),
        link=link,
        count=4,
        window=timedelta(minutes=10),
    )
    assert "Overdue by 15 min (was due 10:10)" in late
    assert "(4 times in 10 min)" in late


def test_facts_survive_json() -> None:
    assert OrderFacts.from_json(FACTS.as_json()) == FACTS


def test_a_warning_is_due_within_the_lead_and_not_after_the_breach() -> None:
    due, lead = T0 + timedelta(minutes=10), timedelta(minutes=5)
    assert not warning_due(due, T0 + timedelta(minutes=4, seconds=59), lead)
    assert warning_due(due, T0 + timedelta(minutes=5), lead)
    assert warning_due(due, T0 + timedelta(minutes=9, seconds=59), lead)
    assert not warning_due(due, due, lead)  # breached: the escalation's business


def test_a_warning_goes_to_the_assignee_then_the_managers_and_is_never_folded() -> None:
    routed = warned(["m1", "li"], "li")
    assert routed == Routed("due_soon", ("li", "m1"), groups=False)
    assert FACTS.due_at is not None
    assert routed.fold_key(FACTS) == f"due_soon:{FACTS.id}@{FACTS.due_at.isoformat()}"
    assert warned(["m1"], None).users == ("m1",)


def test_only_the_routed_actions_can_make_a_notice() -> None:
    for action in ("work_order.acknowledge", "work_order.comment", "alarm.raised"):
        assert action not in ROUTED_ACTIONS
        assert route(action, {"priority": "P1", "notify": "manager"}, "rescue", ["m"], []) is None
    assert {
        "work_order.created",
        "work_order.priority_raised",
        "work_order.assign",
        "work_order.escalated",
    } == ROUTED_ACTIONS
