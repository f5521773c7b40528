"""The live hub's pure parts: which events a change makes, who may see it, and a bounded
per-client queue (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from api.live import Subscription, encode, events_of, public_site_of
from api.users import User
from api.visibility import can_see_change
from maintenance.db.read.changes import Change, Facts
from maintenance.domain.actors import Role

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
WANGS = Facts("north", priority="P2", assignee="wang")


def change(
    entity_type: str = "work_order",
    action: str = "work_order.assigned",
    facts: Facts | None = WANGS,
    detail: dict[str, Any] | None = None,
    to_state: str | None = "assigned",
) -> Change:
    return Change(7, T0, action, entity_type, "WO-1", to_state, detail or {}, facts)


def person(username: str, role: Role, sites: tuple[str, ...] = ()) -> User:
    return User(1, username, username, role, sites, None, None, True)


def test_an_order_change_is_one_small_event_and_a_new_p1_a_second() -> None:
    assert events_of(change()) == [
        (
            "order-changed",
            {
                "id": "WO-1",
                "action": "assigned",
                "status": "assigned",
                "site": "north",
                "priority": "P2",
            },
        )
    ]
    created = change(action="work_order.created", detail={"priority": "P1"}, to_state="new")
    assert [name for name, _ in events_of(created)] == ["order-changed", "p1-raised"]
    raised = change(action="work_order.priority_raised", detail={"to": "P1"})
    assert [name for name, _ in events_of(raised)] == ["order-changed", "p1-raised"]
    assert events_of(change(entity_type="proposal", action="proposal.created")) == []


def test_an_alarm_event_names_its_building() -> None:
    alarm = change("alarm", "alarm.raised", Facts("north", "B2", "P1"), to_state=None)
    ((name, data),) = events_of(alarm)
    assert name == "alarm-changed"
    assert data["building"] == "B2"


def test_the_public_board_hears_only_state_changes_of_orders_at_its_site() -> None:
    assert public_site_of(change()) == "north"
    assert public_site_of(change(to_state=None)) is None
    assert public_site_of(change("alarm", "alarm.raised", Facts("north"))) is None


def test_who_sees_a_change_follows_the_api_visibility_rules() -> None:
    order = change(facts=Facts("north", assignee=None, requested_by="li"))
    sees = partial(can_see_change, change=order)
    assert sees(person("boss", "manager"))
    assert sees(person("wang", "technician", ("north",)))
    assert not sees(person("zhao", "technician", ("south",)))
    assert sees(person("li", "resident"))
    assert not sees(person("chen", "resident"))
    alarm = change("alarm", "alarm.raised", Facts("south"))
    assert can_see_change(person("zhao", "technician", ("south",)), alarm)
    assert not can_see_change(person("li", "resident"), alarm)
    assert not can_see_change(person("wang", "technician", ("north",)), change(facts=None))


async def test_a_subscription_that_falls_too_far_behind_is_dropped_and_ends() -> None:
    frame = encode("order-changed", 1, {"id": "WO-1"})
    subscription = Subscription(lambda _: True, public_site=None, limit=3 * len(frame))
    assert all(subscription.offer(frame) for _ in range(3))
    assert not subscription.offer(frame)
    assert subscription.dropped
    frames = [f async for f in subscription.frames(keep_alive=60)]
    # Only the greeting: what was queued is not sent to a dropped client.
    assert len(frames) == 1
    assert b"event: ready" in frames[0]


async def test_an_ended_subscription_sends_what_it_holds_then_stops() -> None:
    subscription = Subscription(lambda _: True, public_site=None, limit=1 << 16)
    subscription.offer(encode("order-changed", 1, {"id": "WO-1"}))
    subscription.offer(encode("order-changed", 2, {"id": "WO-2"}))
    subscription.end()
    frames = b"".join([f async for f in subscription.frames(keep_alive=60)])
    assert frames.endswith(
        b'event: order-changed\nid: 1\ndata: {"id":"WO-1"}\n\n'
        b'event: order-changed\nid: 2\ndata: {"id":"WO-2"}\n\n'
    )
