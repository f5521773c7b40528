"""A compound for the notification relay's tests: a migrated database with a manager
and two technicians, a real mail server (aiosmtpd, STARTTLS and login) and a real robot
endpoint (DingTalk's signature checked), the settings file pointing at both, and a fake
clock. ``run`` is a relay's life of a few ``step()`` calls, so the clock decides what
is due."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from notify_servers import (
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    MAIL_PASSWORD,
    MAIL_USER,
    MailServer,
    RobotServer,
    mail_server,
    robot_server,
)
from register_support import register_devices
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.users import NewUser, add_user_row
from estatewatch.clock import utc_now
from maintenance import services
from maintenance.channels import NotifySettings, open_channels
from maintenance.db.engine import default_url, make_engine, make_sessionmaker
from maintenance.db.migrations import upgrade
from maintenance.db.read.notifications import NotificationView, order_notifications
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain import commands as cmd
from maintenance.domain.actors import Actor, Role
from maintenance.domain.signals import Priority
from maintenance.domain.sla import SlaPolicy
from maintenance.notification_relay import NotificationRelay

MANAGER = Actor("mgr-1", "manager")
BASE = "https://estate.test"
T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: the day shift


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    mail: MailServer
    robots: RobotServer
    settings_path: Path

    async def order(
        self,
        title: str = "Lift stuck between floors",
        *,
        asset: str = "elev-01",
        priority: Priority = "P1",
    ) -> str:
        result = await services.create_order(
            SqlUnitOfWork(self.sessions),
            MANAGER,
            self.clock,
            title=title,
            asset=f"demo/elevator/{asset}",
            site="demo",
            category="elevator",
            fault_kind="stuck",
            priority=priority,
            location="3号楼1单元",
        )
        return result.order.id

    async def act(self, command: cmd.OrderCommand, actor: Actor = MANAGER) -> None:
        await services.perform(
            SqlUnitOfWork(self.sessions), command, actor, self.clock, SlaPolicy()
        )

    async def user(
        self, name: str, role: Role, locale: str | None, sites: tuple[str, ...] = ("demo",)
    ) -> None:
        async with SqlUnitOfWork(self.sessions) as uow:
            home = {"building": "3", "unit": "1-101"} if role == "resident" else {}
            person = NewUser(username=name, role=role, sites=list(sites), **home)
            row = await add_user_row(uow, person, at=T0)
            await uow.accounts.set_locale(row.id, locale)
            await uow.commit()

    async def settle(self, username: str, **columns: object) -> None:
        """Change a user's own settings as stored (``email``, ``quiet_start``...)."""
        async with SqlUnitOfWork(self.sessions) as uow:
            row = await uow.accounts.user(username)
            assert row is not None
            for name, value in columns.items():
                setattr(row, name, value)
            await uow.commit()

    async def notifications(self, order_id: str) -> list[NotificationView]:
        async with self.sessions() as session:
            found = await order_notifications(session, order_id)
        assert found is not None
        return found

    def write_settings(
        self, *, mail_port: int | None = None, people: Mapping[str, str] = {}, site: str = ""
    ) -> NotifySettings:
        """``people``: more addresses; ``site``: more of the site's settings, as YAML
        indented for it (``    routes: ...``)."""
        base = f"http://127.0.0.1:{self.robots.port}"
        more = "".join(f"      {user}: {address}\n" for user, address in people.items())
        self.settings_path.write_text(
            f"""
fold_window_s: 600
sites:
  demo:
    email:
      host: 127.0.0.1
      port: {mail_port or self.mail.port}
      username: {MAIL_USER}
      password_env: T_MAIL_PASSWORD
      sender: 物业报修 <notify@estate.test>
      ca_file: {self.mail.ca_file}
      timeout_s: 2
    robots:
      - name: duty
        kind: dingtalk
        secret_env: T_DING_SECRET
        url: "{base}/robot/send?access_token=${{T_DING_TOKEN}}"
    people:
      mgr-1: mgr@estate.test
      tech-day: day@estate.test
      tech-night: night@estate.test
{more}    on_call:
      - {{user: tech-day, hours: "08:00-20:00"}}
      - {{user: tech-night, hours: "20:00-08:00"}}
{site}""",
            encoding="utf-8",
        )
        return NotifySettings.load(self.settings_path)


@asynccontextmanager
async def notify_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str | None = None
) -> AsyncIterator[World]:
    """``url``: the database (``db_url``'s; SQLite in ``tmp_path`` when None)."""
    monkeypatch.setenv("T_MAIL_PASSWORD", MAIL_PASSWORD)
    monkeypatch.setenv("T_DING_TOKEN", DINGTALK_TOKEN)
    monkeypatch.setenv("T_DING_SECRET", DINGTALK_SECRET)
    writer = make_engine(url or default_url(tmp_path))
    await upgrade(writer)
    async with mail_server(tmp_path) as mail, robot_server() as robots:
        sessions = make_sessionmaker(writer)
        world = World(sessions, FakeClock(), mail, robots, tmp_path / "notify.yaml")
        await world.user("mgr-1", "manager", "en")
        await world.user("tech-day", "technician", "zh_CN")
        await world.user("tech-night", "technician", None)
        # World.order's car, and the one the committee's tests spend on.
        await register_devices(sessions, "demo/elevator/elev-01", "demo/elevator/elev-03")
        yield world
    await writer.dispose()


async def run(world: World, settings: NotifySettings, steps: int = 1) -> NotificationRelay:
    """A relay's life: ``steps`` rounds of planning and sending, then it stops."""
    # Signatures carry the wall clock's time: the robots refuse one an hour off.
    async with open_channels(settings, utc_now) as channels:
        relay = NotificationRelay(settings, channels, world.sessions, world.clock, base_url=BASE)
        for _ in range(steps):
            await relay.step()
    return relay


def mail_to(mail: MailServer, address: str) -> list[str]:
    return [str(m["Subject"]) for m in mail.messages if m["To"] == address]
