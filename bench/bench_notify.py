"""Notifications: P1 order committed -> mail received and chat-robot post received.

The maintenance worker's :class:`~maintenance.notification_relay.NotificationRelay` as
the worker runs it (looking at the audit trail every second, its default) over an
SQLite file, a real SMTP server (aiosmtpd on loopback, plain: TLS costs are the mail
server's, not ours) and a WeCom-style robot endpoint (asyncio HTTP on loopback).
``ORDERS`` P1 orders are created one after the other, each after a random pause of up
to a second (so they fall anywhere in the relay's cycle, as real ones do) and on its
own car (so none is folded); the latency is from the order's commit until both the
manager's mail (to their own address) and the group's post have arrived.

Keys ``notify.p1_to_delivered_p50_s`` and ``..._p99_s`` (target p99 < 2 s). The
relay's one-second look dominates.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from api.users import NewUser, add_user_row
from bench.bench_fault_to_order import p50_p99
from demo.notify_catcher import received
from demo.platform import SITE_FILE
from estatewatch.clock import utc_now
from estatewatch.ports import free_ports
from maintenance import services
from maintenance.channels import NotifySettings, open_channels
from maintenance.db.engine import default_url, make_engine, make_sessionmaker
from maintenance.db.migrations import upgrade
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Actor
from maintenance.notification_relay import NotificationRelay
from maintenance.sites import load_site_file

NAME = "notify"
ORDERS = 100
KEY_VARIABLE = "ESTATEWATCH_BENCH_WECOM_KEY"
MANAGER = Actor("bench-mgr", "manager")


class _Arrivals:
    """When each order's mail and post arrived (monotonic seconds), by order id."""

    def __init__(self) -> None:
        self.mail: dict[str, float] = {}
        self.post: dict[str, float] = {}

    @staticmethod
    def order_in(text: str) -> str:
        found = re.search(r"/orders/(WO-\d{4}-\d+)", text)  # the link every message ends with
        assert found is not None, text
        return found.group(1)

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.mail[self.order_in(received(envelope)["body"])] = time.monotonic()
        return "250 OK"

    async def robot(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answer = b'{"errcode": 0, "errmsg": "ok"}'
        try:
            while await reader.readline():
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                self.post[self.order_in(body.decode())] = time.monotonic()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def _settings(mail_port: int, robot_port: int) -> NotifySettings:
    url = f"http://127.0.0.1:{robot_port}/cgi-bin/webhook/send?key=${{{KEY_VARIABLE}}}"
    document: dict[str, Any] = {
        "sites": {
            "demo": {
                "email": {
                    "host": "127.0.0.1",
                    "port": mail_port,
                    "security": "none",
                    "sender": "bench <bench@estate.test>",
                },
                "robots": [{"name": "duty", "kind": "wecom", "url": url}],
            }
        }
    }
    return NotifySettings.model_validate(document)


async def _measure(work: Path) -> list[float]:
    os.environ.setdefault(KEY_VARIABLE, "bench-key")
    writer = make_engine(default_url(work))
    await upgrade(writer)
    sessions = make_sessionmaker(writer)
    async with SqlUnitOfWork(sessions) as uow:
        manager = NewUser(
            username=MANAGER.user_id, role="manager", sites=["demo"], email="mgr@estate.test"
        )
        await add_user_row(uow, manager, at=utc_now())
        # Orders are opened only for registered devices: the demo compound's cars.
        await uow.sites.import_file(
            load_site_file(SITE_FILE), actor="cli:bench", at=utc_now(), source="bench"
        )
        await uow.commit()
    arrivals = _Arrivals()
    mail = Controller(arrivals, hostname="127.0.0.1", port=free_ports(1)[0])
    await asyncio.to_thread(mail.start)
    robot = await asyncio.start_server(arrivals.robot, "127.0.0.1", 0)
    settings = _settings(mail.port, robot.sockets[0].getsockname()[1])
    latencies: list[float] = []
    try:
        async with (
            robot,
            open_channels(settings, utc_now) as channels,
            NotificationRelay(settings, channels, sessions, utc_now, base_url="http://bench"),
        ):
            await asyncio.sleep(0.1)  # the relay's first step sets its cursor
            for index in range(ORDERS):
                await asyncio.sleep(random.uniform(0, 1))
                created = await services.create_order(
                    SqlUnitOfWork(sessions),
                    MANAGER,
                    utc_now,
                    title="Lift stopped",
                    asset=f"demo/elevator/elev-{index % 6 + 1:02d}",
                    site="demo",
                    category="elevator",
                    fault_kind=f"stopped-{index:03d}",  # one open order per (car, kind)
                    priority="P1",
                )
                committed, order = time.monotonic(), created.order.id
                async with asyncio.timeout(30):
                    while order not in arrivals.mail or order not in arrivals.post:  # noqa: ASYNC110
                        await asyncio.sleep(0.002)
                latencies.append(max(arrivals.mail[order], arrivals.post[order]) - committed)
    finally:
        await asyncio.to_thread(mail.stop)
        await writer.dispose()
    return latencies


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-notify-") as work:
        latencies = asyncio.run(_measure(Path(work)))
    p50, p99 = p50_p99(latencies, "P1 orders")
    return {f"{NAME}.p1_to_delivered_p50_s": p50, f"{NAME}.p1_to_delivered_p99_s": p99}


if __name__ == "__main__":
    print(run())
