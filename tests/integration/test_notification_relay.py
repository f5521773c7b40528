"""NotificationRelay under a fake clock: committed orders to a real mail server
(aiosmtpd, STARTTLS and login) and to real robot endpoints (signatures checked), a
restart in the middle, a channel that is down, and a flapping alarm folded.

``step()`` is called by hand, so the fake clock decides what is due.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time, timedelta
from pathlib import Path

import pytest
from api_support import SettableClock, bearer, running_api, web_login
from notify_servers import (
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    MAIL_PASSWORD,
    MailServer,
    mail_server,
    robot_server,
)
from notify_world import BASE, T0, FakeClock, World, mail_to, notify_world, run
from register_support import register_devices

from estatewatch.ports import free_ports
from maintenance import services
from maintenance.channels.email import message_id
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain import commands as cmd
from maintenance.domain.sla import SlaPolicy

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with notify_world(tmp_path, monkeypatch) as world:
        yield world


async def test_a_p1_order_reaches_managers_on_call_and_the_group_in_their_language(
    world: World,
) -> None:
    settings = world.write_settings()
    await run(world, settings)  # first start: from the newest entry on
    order = await world.order()
    world.clock.now += timedelta(minutes=2)
    await run(world, settings)

    assert mail_to(world.mail, "mgr@estate.test") == ["[P1] New order: Lift stuck between floors"]
    assert mail_to(world.mail, "day@estate.test") == ["【P1】新工单：Lift stuck between floors"]  # noqa: RUF001
    assert mail_to(world.mail, "night@estate.test") == []  # not on call at 10:02
    english = next(m for m in world.mail.messages if m["To"] == "mgr@estate.test")
    body = english.get_body()
    assert body is not None
    text = body.get_content()
    assert "Place: 3号楼1单元" in text
    assert "Priority: P1" in text
    assert "Time left: 8 min (due 10:10)" in text  # P1: acknowledge within 10 min
    assert f"Open: {BASE}/orders/{order}" in text
    [post] = world.robots.posts
    assert post.accepted
    assert "【P1】新工单" in post.document["text"]["content"]

    notes = await world.notifications(order)
    assert {(n.channel, n.recipient, n.status) for n in notes} == {
        ("email:demo", "mgr-1", "sent"),
        ("email:demo", "tech-day", "sent"),
        ("dingtalk:duty", "dingtalk:duty", "sent"),
    }
    assert all([a.result for a in n.attempts] == ["delivered"] for n in notes)

    await world.act(cmd.Assign(order, assignee="tech-night"))
    await run(world, settings)
    [assigned] = mail_to(world.mail, "night@estate.test")
    assert assigned == "【派单】指派给您：Lift stuck between floors"  # noqa: RUF001
    assert len(world.robots.posts) == 1  # an assignment is not for the group


async def test_the_night_shift_is_on_call_at_night(world: World) -> None:
    settings = world.write_settings()
    world.clock.now = T0 + timedelta(hours=13)  # 23:00 in Shanghai
    await run(world, settings)
    await world.order()
    await run(world, settings)
    assert len(mail_to(world.mail, "night@estate.test")) == 1
    assert mail_to(world.mail, "day@estate.test") == []


async def test_a_down_mail_server_blocks_no_other_channel_and_a_restart_sends_each_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    down = world.write_settings(mail_port=free_ports(1)[0])
    await run(world, down)
    order = await world.order()
    relay = await run(world, down, steps=3)  # the mail server is down the whole time

    assert len(world.robots.posts) == 1  # the group heard at once
    assert world.mail.messages == []
    assert relay.counters.outages == 1
    failing = [r for r in caplog.records if "is failing" in r.getMessage()]
    assert len(failing) == 1  # logged once per outage, not per message
    notes = {n.recipient: n for n in await world.notifications(order)}
    assert notes["mgr-1"].status == "pending"
    assert [a.result for a in notes["mgr-1"].attempts] == ["retrying"]  # backoff: not due again yet

    # A restart with the server back: what was pending goes, once each, with its id.
    up = world.write_settings()
    world.clock.now += timedelta(minutes=15)
    await run(world, up, steps=3)
    assert sorted(str(m["To"]) for m in world.mail.messages) == [
        "day@estate.test",
        "mgr@estate.test",
    ]
    ids = {str(m["Message-ID"]) for m in world.mail.messages}
    assert ids == {message_id(notes[user].id) for user in ("mgr-1", "tech-day")}
    assert len(world.robots.posts) == 1
    after = {n.recipient: n for n in await world.notifications(order)}
    assert [a.result for a in after["mgr-1"].attempts] == ["retrying", "delivered"]


async def test_a_flapping_fault_is_folded_into_one_message_with_a_count(world: World) -> None:
    settings = world.write_settings()
    await run(world, settings)
    orders = []
    for _ in range(4):  # opened and cancelled four times in six minutes
        orders.append(await world.order())
        await run(world, settings)
        await world.act(cmd.Cancel(orders[-1], reason="cleared by itself"))
        world.clock.now += timedelta(minutes=2)
    assert len(mail_to(world.mail, "mgr@estate.test")) == 1  # the first at once
    assert len(world.robots.posts) == 1

    world.clock.now = T0 + timedelta(minutes=10)  # the window that began with it ends
    await run(world, settings)
    assert len(mail_to(world.mail, "mgr@estate.test")) == 2
    folded = [m for m in world.mail.messages if m["To"] == "mgr@estate.test"][-1].get_body()
    assert folded is not None
    assert "(3 times in 10 min)" in folded.get_content()
    assert len(world.robots.posts) == 2
    assert "（10 分钟内共 3 次）" in world.robots.posts[-1].document["text"]["content"]  # noqa: RUF001


async def test_the_order_shows_who_was_told_through_the_json_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_MAIL_PASSWORD", MAIL_PASSWORD)
    monkeypatch.setenv("T_DING_TOKEN", DINGTALK_TOKEN)
    monkeypatch.setenv("T_DING_SECRET", DINGTALK_SECRET)
    async with (
        mail_server(tmp_path) as mail,
        robot_server() as robots,
        running_api(tmp_path, SettableClock(T0)) as api,
    ):
        manager = await api.user("mgr-1", "manager", sites=["demo"])
        stranger = await api.user("tech-far", "technician", sites=["other"])
        world = World(api.services.sessions, FakeClock(), mail, robots, tmp_path / "n.yaml")
        await register_devices(world.sessions, "demo/elevator/elev-01")
        settings = world.write_settings()
        await run(world, settings)
        order = await world.order()
        await run(world, settings)

        url = f"/api/v1/work-orders/{order}/notifications"
        answer = await api.client.get(url, headers=bearer(manager))
        assert answer.status_code == 200
        told = {(n["channel"], n["recipient"]): n for n in answer.json()}
        assert set(told) == {
            ("email:demo", "mgr-1"),
            ("email:demo", "tech-day"),
            ("dingtalk:duty", "dingtalk:duty"),
        }
        mine = told[("email:demo", "mgr-1")]
        assert (mine["kind"], mine["status"], mine["language"]) == ("p1_opened", "sent", "zh-CN")
        assert [a["result"] for a in mine["attempts"]] == ["delivered"]
        assert "address" not in mine  # who, not where

        hidden = await api.client.get(url, headers=bearer(stranger))
        assert hidden.status_code == 404

        # The order's page says it too, in the reader's language.
        await web_login(api, "tech-day", "technician", sites=["demo"])
        await world.act(cmd.Assign(order, assignee="tech-day"))
        await run(world, settings)  # and "assigned to you" goes to tech-day
        page = await api.client.get(f"/tech/orders/{order}", headers={"Accept-Language": "zh-CN"})
        assert page.status_code == 200
        assert "已通知" in page.text
        assert "已送达 4 条，待发送 0 条，失败 0 条" in page.text  # noqa: RUF001


async def test_a_pre_breach_warning_goes_once_at_the_right_minute(world: World) -> None:
    settings = world.write_settings()  # warn_before_s: 300 by default
    await run(world, settings)
    order = await world.order()  # P1: to be acknowledged within 10 minutes
    await world.act(cmd.Assign(order, assignee="tech-night"))
    await run(world, settings)
    opened = len(world.mail.messages)

    world.clock.now = T0 + timedelta(minutes=4, seconds=59)
    await run(world, settings)
    assert len(world.mail.messages) == opened  # not yet

    for minute in (5, 6, 9):  # from 10:05 on, once
        world.clock.now = T0 + timedelta(minutes=minute)
        await run(world, settings)
    warnings = [m for m in world.mail.messages if "Due soon" in str(m["Subject"])]
    warnings += [m for m in world.mail.messages if "即将超时" in str(m["Subject"])]
    assert sorted(str(m["To"]) for m in warnings) == ["mgr@estate.test", "night@estate.test"]
    english = next(m for m in warnings if m["To"] == "mgr@estate.test").get_body()
    assert english is not None
    assert "Time left: 5 min (due 10:10)" in english.get_content()

    await world.act(cmd.Acknowledge(order))  # the next clock (arrival, 1 h) is far off
    world.clock.now = T0 + timedelta(minutes=11)
    await run(world, settings)
    assert len([m for m in world.mail.messages if "Due soon" in str(m["Subject"])]) == 1


async def test_a_breach_tells_the_role_of_its_escalation_level(world: World) -> None:
    settings = world.write_settings()
    await run(world, settings)
    order = await world.order()
    world.clock.now = T0 + timedelta(minutes=11)  # acknowledge was due at 10:10
    checked = await services.check_slas(SqlUnitOfWork(world.sessions), SlaPolicy(), world.clock)
    assert [(e.order_id, e.level, e.notify) for e in checked.escalations] == [(order, 1, "manager")]
    await run(world, settings)
    overdue = [m for m in world.mail.messages if str(m["Subject"]).startswith("[Overdue]")]
    assert [str(m["To"]) for m in overdue] == ["mgr@estate.test"]
    body = overdue[0].get_body()
    assert body is not None
    assert "Overdue by 1 min (was due 10:10)" in body.get_content()


def subjects(mail: MailServer, address: str, word: str) -> list[str]:
    return [subject for subject in mail_to(mail, address) if word in subject]


async def test_a_users_own_address_gets_their_assigned_mail_in_their_language(
    world: World,
) -> None:
    settings = world.write_settings()
    await world.settle("tech-night", email="li.own@estate.test", locale="en")
    await run(world, settings)
    order = await world.order("Door slow to close", priority="P3")
    await world.act(cmd.Assign(order, assignee="tech-night"))
    await run(world, settings)

    [mail] = [m for m in world.mail.messages if m["To"] == "li.own@estate.test"]
    assert str(mail["Subject"]) == "[Assigned] To you: Door slow to close"
    assert mail["Content-Language"] == "en"
    body = mail.get_body()
    assert body is not None
    assert f"Open: {BASE}/orders/{order}" in body.get_content()
    assert world.mail.recipients[-1] == ["li.own@estate.test"]
    assert mail_to(world.mail, "night@estate.test") == []  # the file's address: a fallback only


async def test_quiet_hours_hold_what_can_wait_until_they_end_and_never_a_p1(
    world: World,
) -> None:
    settings = world.write_settings()
    await world.settle("tech-night", quiet_start=time(22, 0), quiet_end=time(7, 0))
    world.clock.now = T0 + timedelta(hours=13)  # 23:00 in Shanghai
    await run(world, settings)
    for title in ("Door slow to close", "Door slow to close again"):
        order = await world.order(title, priority="P3")
        await world.act(cmd.Assign(order, assignee="tech-night"))
        await run(world, settings)
        await world.act(cmd.Cancel(order, reason="a duplicate"))  # one open order per fault
        world.clock.now += timedelta(minutes=30)
    assert mail_to(world.mail, "night@estate.test") == []  # held, the second folded in

    # 00:00: a P1 on the same lift goes at once (tech-night is on call at night), and so
    # does its assignment, which is not folded into the one held for the morning.
    stuck = await world.order()
    await run(world, settings)
    assert mail_to(world.mail, "night@estate.test") == ["【P1】新工单：Lift stuck between floors"]  # noqa: RUF001
    await world.act(cmd.Assign(stuck, assignee="tech-night"))
    await run(world, settings)
    assert subjects(world.mail, "night@estate.test", "派单") == [
        "【派单】指派给您：Lift stuck between floors"  # noqa: RUF001
    ]

    world.clock.now = T0 + timedelta(hours=20, minutes=59)  # 06:59
    await run(world, settings)
    assert len(subjects(world.mail, "night@estate.test", "派单")) == 1
    world.clock.now = T0 + timedelta(hours=21)  # 07:00: the quiet hours end
    await run(world, settings)
    assert subjects(world.mail, "night@estate.test", "派单")[1:] == [
        "【派单】指派给您：Door slow to close"  # noqa: RUF001
    ]
    morning = [m for m in world.mail.messages if "Door slow" in str(m["Subject"])]
    body = morning[0].get_body()
    assert body is not None
    assert "（480 分钟内共 2 次）" in body.get_content()  # noqa: RUF001
    # Quiet hours are the recipient's own: the manager had the P1's mail at once too.
    assert mail_to(world.mail, "mgr@estate.test") == ["[P1] New order: Lift stuck between floors"]


async def test_a_person_who_chose_chat_is_mentioned_by_the_sites_robot(world: World) -> None:
    settings = world.write_settings()
    await world.settle("tech-day", notify_email=False, notify_chat=True, chat_handle="13800000001")
    await run(world, settings)
    order = await world.order()
    await run(world, settings)

    assert mail_to(world.mail, "day@estate.test") == []  # not by mail: they chose chat
    group, mention = world.robots.posts
    assert all(post.accepted for post in world.robots.posts)  # signed as DingTalk checks
    assert "at" not in group.document
    assert mention.document["at"] == {"atMobiles": ["13800000001"]}
    assert mention.document["text"]["content"].endswith("\n@13800000001")
    notes = {(n.channel, n.recipient) for n in await world.notifications(order)}
    assert ("dingtalk:duty", "tech-day") in notes
