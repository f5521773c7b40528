"""The committee's and residents' notices and the daily digest, from the audit trail to a
real mail server (aiosmtpd) and a real robot endpoint, under a fake clock: each reaches
the people its route names and nobody else; the digest goes once a day, also across a
restart. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from notify_world import BASE, MANAGER, World, mail_to, notify_world, run

from maintenance import services
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain import commands as cmd
from maintenance.domain.actors import Actor
from maintenance.domain.proposals import SpendingProposal
from maintenance.domain.signals import DeviceRef
from maintenance.domain.votes import Electorate, Tally

pytestmark = pytest.mark.integration

TECH = Actor("tech-day", "technician")
COMMITTEE = Actor("com-1", "committee")
NO_DIGEST = "    routes:\n      digest: []\n"  # its hour (08:00) has passed at 10:00
PEOPLE = {
    "com-1": "com1@estate.test",
    "com-2": "com2@estate.test",
    "res-a": "a@estate.test",
    "res-b": "b@estate.test",
}


@pytest.fixture
async def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> AsyncIterator[World]:
    async with notify_world(tmp_path, monkeypatch, db_url) as world:
        await world.user("com-1", "committee", "zh_CN")
        await world.user("com-2", "committee", "en", sites=())  # no sites: every compound's
        await world.user("res-a", "resident", "zh_CN")
        await world.user("res-b", "resident", "en")
        yield world


def bodies(world: World, address: str) -> list[str]:
    found = []
    for message in world.mail.messages:
        body = message.get_body()
        if message["To"] == address and body is not None:
            found.append(body.get_content())
    return found


async def request(world: World, resident: str, title: str, place: str) -> str:
    result = await services.create_order(
        SqlUnitOfWork(world.sessions),
        Actor(resident, "resident"),
        world.clock,
        title=title,
        asset=f"demo/building/3/{place}",
        site="demo",
        category="lighting",
        fault_kind="light_out",
        priority="P3",
        location=f"3号楼 {place}",
    )
    return result.order.id


async def put_to_the_vote(
    world: World, title: str, amount: Decimal, owners_for: int, area_for: str
) -> SpendingProposal:
    """A proposal, its owners' vote (120 owners, 10,800 m2) and the tally deciding it."""
    uow = SqlUnitOfWork(world.sessions)
    proposal = await services.create_proposal(uow, MANAGER, world.clock, title=title, amount=amount)
    electorate = Electorate(owners_total=120, area_total_m2=Decimal("10800"))
    await services.open_vote(uow, MANAGER, world.clock, proposal.id, electorate)
    counted = Tally(for_owners=owners_for, for_area_m2=Decimal(area_for))
    await services.record_tally(uow, COMMITTEE, world.clock, proposal.id, counted)
    return proposal


async def test_a_resident_hears_each_step_of_their_own_request_and_nobody_elses(
    world: World,
) -> None:
    settings = world.write_settings(people=PEOPLE, site=NO_DIGEST)
    await run(world, settings)  # first start: from the newest entry on
    mine = await request(world, "res-a", "楼道灯不亮", "stairwell")
    theirs = await request(world, "res-b", "Door buzzer broken", "entrance")
    await run(world, settings)
    assert world.mail.messages == []  # raising it is the resident's own doing

    for command, actor in (
        (cmd.Assign(mine, assignee="tech-day"), MANAGER),
        (cmd.Acknowledge(mine), TECH),
        (cmd.Start(mine), TECH),
        (cmd.Resolve(mine, note="换了灯泡"), TECH),
    ):
        await world.act(command, actor)
        world.clock.now += timedelta(minutes=1)
        await run(world, settings)
    await world.act(cmd.Assign(theirs, assignee="tech-day"))
    await run(world, settings)

    assert mail_to(world.mail, "a@estate.test") == [
        "【报修进度】已派工：楼道灯不亮",  # noqa: RUF001
        "【报修进度】已受理：楼道灯不亮",  # noqa: RUF001
        "【报修进度】维修中：楼道灯不亮",  # noqa: RUF001
        "【报修进度】已修好，请确认：楼道灯不亮",  # noqa: RUF001
    ]
    assert all(f"{BASE}/my/requests/{mine}" in text for text in bodies(world, "a@estate.test"))
    assert mail_to(world.mail, "b@estate.test") == ["[Your request] Assigned: Door buzzer broken"]
    assert theirs not in "".join(bodies(world, "a@estate.test"))
    # The technician hears only "assigned to you"; the committee nothing; no group post.
    assert len(mail_to(world.mail, "day@estate.test")) == 2
    assert mail_to(world.mail, "com1@estate.test") == []
    assert world.robots.posts == []
    told = {(n.kind, n.recipient) for n in await world.notifications(mine)}
    assert ("request_update", "res-a") in told
    assert ("request_update", "res-b") not in told


async def test_a_resident_hears_when_their_request_is_put_on_hold_cancelled_or_closed(
    world: World,
) -> None:
    settings = world.write_settings(site=NO_DIGEST)
    await world.settle("res-a", email="a.own@estate.test")
    await world.settle("res-b", email="b.own@estate.test")
    await world.user("res-c", "resident", "en")
    await world.settle("res-c", email="c.own@estate.test")
    await run(world, settings)
    held = await request(world, "res-a", "楼道灯不亮", "stairwell")
    done = await request(world, "res-b", "Door buzzer broken", "entrance")
    for_them = await request(world, "res-c", "Mailbox lock jammed", "lobby")
    for command, actor in (
        (cmd.Assign(held, assignee="tech-day"), MANAGER),
        (cmd.Acknowledge(held), TECH),
        (cmd.Hold(held, reason="等灯具到货，预计周五"), TECH),  # noqa: RUF001
        (cmd.Cancel(held, reason="与 WO-2026-000001 重复"), MANAGER),
        (cmd.Assign(done, assignee="tech-day"), MANAGER),
        (cmd.Acknowledge(done), TECH),
        (cmd.Resolve(done, note="Replaced the buzzer"), TECH),
        (cmd.Verify(done), Actor("res-b", "resident")),  # their own doing: not news
        (cmd.Close(done), MANAGER),
        (cmd.Assign(for_them, assignee="tech-day"), MANAGER),
        (cmd.Acknowledge(for_them), TECH),
        (cmd.Resolve(for_them, note="Freed the lock"), TECH),
        # The owners' supervisor confirms it for them (they did not answer): news.
        (cmd.Verify(for_them), Actor("sup-1", "supervisor")),
    ):
        await world.act(command, actor)
        world.clock.now += timedelta(minutes=1)
        await run(world, settings)

    assert mail_to(world.mail, "a.own@estate.test") == [
        "【报修进度】已派工：楼道灯不亮",  # noqa: RUF001
        "【报修进度】已受理：楼道灯不亮",  # noqa: RUF001
        "【报修进度】暂停处理：楼道灯不亮",  # noqa: RUF001
        "【报修进度】已取消：楼道灯不亮",  # noqa: RUF001
    ]
    held_text, cancelled_text = bodies(world, "a.own@estate.test")[2:]
    assert "原因：等灯具到货，预计周五" in held_text.splitlines()  # noqa: RUF001
    assert "原因：与 WO-2026-000001 重复" in cancelled_text.splitlines()  # noqa: RUF001
    assert f"{BASE}/my/requests/{held}" in cancelled_text
    assert mail_to(world.mail, "b.own@estate.test") == [
        "[Your request] Assigned: Door buzzer broken",
        "[Your request] Acknowledged: Door buzzer broken",
        "[Your request] Resolved, please confirm: Door buzzer broken",
        "[Your request] Closed: Door buzzer broken",
    ]
    assert "Reason" not in bodies(world, "b.own@estate.test")[-1]
    assert mail_to(world.mail, "c.own@estate.test")[-2:] == [
        "[Your request] Resolved, please confirm: Mailbox lock jammed",
        "[Your request] The owners' supervisor confirmed the fix for you: Mailbox lock jammed",
    ]
    assert world.robots.posts == []


async def test_the_committee_hears_approvals_proposals_and_votes_and_technicians_do_not(
    world: World,
) -> None:
    settings = world.write_settings(people=PEOPLE, site=NO_DIGEST)
    await run(world, settings)
    order = (
        await services.create_order(
            SqlUnitOfWork(world.sessions),
            MANAGER,
            world.clock,
            title="3号楼电梯钢丝绳更换",
            asset="demo/elevator/elev-03",
            site="demo",
            category="elevator",
            fault_kind="ropes_worn",
            priority="P3",
            location="3号楼",
        )
    ).order.id
    await world.act(cmd.Assign(order, assignee="tech-day"))
    await world.act(cmd.Acknowledge(order), TECH)
    await world.act(cmd.SetCost(order, estimate=Decimal("12800.00")), TECH)
    await world.act(cmd.RequestApproval(order, reason="钢丝绳断股"), TECH)

    # 90 of 120 owners with 8,000 of 10,800 m2 take part, all for: passed.
    proposal = await put_to_the_vote(world, "2号楼电梯大修", Decimal("380000.00"), 90, "8000")
    await run(world, settings)

    assert mail_to(world.mail, "com1@estate.test") == [
        "【待审批】维修费用：3号楼电梯钢丝绳更换",  # noqa: RUF001
        "【待业委会审议】维修资金申请：2号楼电梯大修",  # noqa: RUF001
        "【业主表决开始】2号楼电梯大修",
        "【表决结果】通过：2号楼电梯大修",  # noqa: RUF001
    ]
    assert mail_to(world.mail, "com2@estate.test") == [
        "[Approval needed] Repair cost: 3号楼电梯钢丝绳更换",
        "[For the committee] Fund proposal: 2号楼电梯大修",
        "[Owners' vote opened] 2号楼电梯大修",
        "[Vote result] Passed: 2号楼电梯大修",
    ]
    english = bodies(world, "com2@estate.test")
    assert "Cost estimate: CNY 12800.00" in english[0]
    assert f"{BASE}/orders/{order}" in english[0]
    assert "Amount: CNY 380000.00" in english[1]
    assert f"{BASE}/committee/proposals/{proposal.id}" in english[3]
    # Technicians and managers are not the committee; residents never hear of it.
    for address in ("day@estate.test", "mgr@estate.test", "a@estate.test", "b@estate.test"):
        assert not any("2号楼" in s or "Approval" in s for s in mail_to(world.mail, address))
    assert mail_to(world.mail, "day@estate.test") == ["【派单】指派给您：3号楼电梯钢丝绳更换"]  # noqa: RUF001
    assert world.robots.posts == []


async def test_a_site_s_table_sends_a_vote_result_to_the_groups_and_turns_approvals_off(
    world: World,
) -> None:
    routes = NO_DIGEST + "      vote_decided: [groups]\n      proposal_opened: []\n"
    settings = world.write_settings(people=PEOPLE, site=routes)
    await run(world, settings)
    await put_to_the_vote(world, "Lobby door", Decimal("9000"), 1, "90")  # failed
    await run(world, settings)
    assert mail_to(world.mail, "com2@estate.test") == ["[Owners' vote opened] Lobby door"]
    [post] = world.robots.posts
    assert "【表决结果】未通过：Lobby door" in post.document["text"]["content"]  # noqa: RUF001


async def seed_yesterday(world: World) -> None:
    """On 6 December (Shanghai): a P1 still open, a resident's request, a rescue."""
    world.clock.now = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    await world.order()
    await request(world, "res-a", "楼道灯不亮", "stairwell")
    await services.report_entrapment(
        SqlUnitOfWork(world.sessions),
        MANAGER,
        world.clock,
        car=DeviceRef("demo", "elevator", "elev-02"),
    )


async def test_the_digest_goes_once_at_the_hour_and_once_across_a_restart(world: World) -> None:
    settings = world.write_settings(people=PEOPLE)
    await seed_yesterday(world)
    seven_59 = datetime(2026, 12, 6, 23, 59, tzinfo=UTC)  # 07:59 on the 7th in Shanghai
    world.clock.now = seven_59
    await run(world, settings)  # first start
    await run(world, settings)
    before = len(world.mail.messages)
    assert not any("简报" in s or "digest" in s for s in mail_to(world.mail, "com1@estate.test"))

    world.clock.now = seven_59 + timedelta(minutes=1)  # 08:00: the hour
    await run(world, settings, steps=3)
    digest = [m for m in world.mail.messages[before:] if "2026-12-06" in str(m["Subject"])]
    assert sorted(str(m["To"]) for m in digest) == ["com1@estate.test", "com2@estate.test"]
    english = next(m for m in digest if m["To"] == "com2@estate.test")
    assert str(english["Subject"]) == "[Daily digest] demo 2026-12-06"
    body = english.get_body()
    assert body is not None
    text = body.get_content()
    assert "Orders opened 3, closed 0" in text
    assert "Lift rescues 1" in text
    assert "open P1 orders 2" in text  # the stuck lift and the rescue
    assert f"{BASE}/committee" in text

    for minutes in (1, 5, 30):  # a restart at the hour, and later that day: no repeat
        world.clock.now = seven_59 + timedelta(minutes=minutes)
        await run(world, settings)
    assert len([m for m in world.mail.messages if "Daily digest" in str(m["Subject"])]) == 1
    assert len([m for m in world.mail.messages if "每日简报" in str(m["Subject"])]) == 1

    world.clock.now = seven_59 + timedelta(days=1, minutes=1)  # the next day's
    await run(world, settings)
    subjects = mail_to(world.mail, "com2@estate.test")
    assert subjects[-1] == "[Daily digest] demo 2026-12-07"
    assert len([s for s in subjects if "Daily digest" in s]) == 2


async def test_a_resident_is_mailed_at_their_own_address_and_not_woken_at_night(
    world: World,
) -> None:
    settings = world.write_settings(people=PEOPLE, site=NO_DIGEST)
    await world.settle(
        "res-b", email="b.own@estate.test", quiet_start=time(22, 0), quiet_end=time(7, 0)
    )
    world.clock.now = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    await run(world, settings)
    order = await request(world, "res-b", "Door buzzer broken", "entrance")
    await world.act(cmd.Assign(order, assignee="tech-night"))
    await run(world, settings)
    assert mail_to(world.mail, "b.own@estate.test") == []  # held: it can wait till 07:00
    assert mail_to(world.mail, "night@estate.test") == ["【派单】指派给您：Door buzzer broken"]  # noqa: RUF001

    world.clock.now = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)  # 07:00 on the 8th
    await run(world, settings)
    assert mail_to(world.mail, "b.own@estate.test") == [
        "[Your request] Assigned: Door buzzer broken"
    ]
    assert mail_to(world.mail, "b@estate.test") == []  # the file's address is a fallback


async def test_a_resident_with_no_address_is_no_warning(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    settings = world.write_settings(site=NO_DIGEST)  # no resident has an address
    await run(world, settings)
    order = await request(world, "res-a", "楼道灯不亮", "stairwell")
    await world.act(cmd.Assign(order, assignee="tech-day"))
    await run(world, settings)
    assert mail_to(world.mail, "day@estate.test") == ["【派单】指派给您：楼道灯不亮"]  # noqa: RUF001
    ours = [r for r in caplog.records if r.name.startswith("maintenance")]
    assert [r.getMessage() for r in ours if r.levelno >= logging.WARNING] == []
