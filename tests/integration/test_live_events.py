"""Live changes against ``estatewatch api`` in a subprocess: what reaches whom, slow
clients, shutdown.

Changes are committed by this test process through its own units of work on the same
database, as the maintenance worker or another API process would commit them; the API's
hub must find them in the audit trail and send each to the clients that may see it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from register_support import register_devices
from sqlalchemy import insert, select

from api.users import NewUser, create_user, issue_token
from estatewatch.ports import free_ports
from maintenance import services
from maintenance.db import audit
from maintenance.db.engine import default_url, make_engine, make_sessionmaker
from maintenance.db.migrations import upgrade
from maintenance.db.tables import AuditRow
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Actor, Role
from maintenance.domain.audit import GENESIS, AuditEntry, chain_hash
from maintenance.domain.signals import Priority

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
MANAGER = Actor("mgr", "manager")
STREAM = {"Accept": "text/event-stream"}
# A small queue, so a stalled reader is dropped after a burst of a few thousand events.
QUEUE_BYTES = 256 * 1024

PEOPLE: dict[str, tuple[Role, tuple[str, ...]]] = {
    "mgr": ("manager", ()),
    "wang": ("technician", ("north",)),
    "li": ("technician", ("south",)),
}


@dataclass
class Server:
    base: str
    data: Path
    tokens: dict[str, str]
    process: subprocess.Popen[str]

    def headers(self, username: str) -> dict[str, str]:
        return STREAM | {"Authorization": f"Bearer {self.tokens[username]}"}


async def _prepare(data: Path) -> dict[str, str]:
    """A migrated database with the people above, and a token each."""
    engine = make_engine(default_url(data))
    try:
        await upgrade(engine)
        sessions = make_sessionmaker(engine)
        tokens = {}
        for username, (role, sites) in PEOPLE.items():
            new = NewUser(username=username, role=role, sites=list(sites))
            await create_user(SqlUnitOfWork(sessions), new, actor="cli:test", at=T0)
            issued = await issue_token(
                SqlUnitOfWork(sessions),
                username,
                expires_at=datetime(2100, 1, 1, tzinfo=UTC),
                label=None,
                actor="cli:test",
                at=T0,
            )
            tokens[username] = issued.secret
        await register_devices(sessions, "north/elevator/car-1", "south/elevator/car-1")
        return tokens
    finally:
        await engine.dispose()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    data = tmp_path / "data"
    data.mkdir()
    tokens = asyncio.run(_prepare(data))
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    env = os.environ | {
        "ESTATEWATCH_API_MQTT_PORT": "1",
        "ESTATEWATCH_API_LIVE_POLL_INTERVAL": "0.1",
        "ESTATEWATCH_API_LIVE_QUEUE_BYTES": str(QUEUE_BYTES),
    }
    with subprocess.Popen(
        [sys.executable, "-m", "cli", "api", "--port", str(port), "--data-dir", str(data)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as process:
        try:
            deadline = time.monotonic() + 90
            while True:
                assert process.poll() is None, "estatewatch api exited before serving"
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "estatewatch api did not start in 90 s"
                time.sleep(0.1)
            yield Server(base, data, tokens, process)
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


@asynccontextmanager
async def committing(data: Path) -> AsyncIterator[SqlUnitOfWork]:
    """A unit of work of this process (not the API's) on the server's database."""
    engine = make_engine(default_url(data))
    try:
        yield SqlUnitOfWork(make_sessionmaker(engine))
    finally:
        await engine.dispose()


async def open_order(
    data: Path, site: str, priority: Priority = "P3", fault_kind: str = "door"
) -> str:
    async with committing(data) as uow:
        result = await services.create_order(
            uow,
            MANAGER,
            lambda: T0,
            title=f"door fault at {site}",
            asset=f"{site}/elevator/car-1",
            site=site,
            category="elevator",
            fault_kind=fault_kind,
            priority=priority,
        )
    return result.order.id


@dataclass(frozen=True)
class Event:
    name: str
    id: int | None
    data: dict[str, Any]


class EventReader:
    """Parses an SSE response as it arrives."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, within: float = 10.0) -> Event:
        fields: dict[str, str] = {}
        async with asyncio.timeout(within):
            async for line in self._lines:
                if line == "":
                    if "event" in fields:
                        event_id = fields.get("id")
                        return Event(
                            fields["event"],
                            None if event_id is None else int(event_id),
                            json.loads(fields.get("data", "{}")),
                        )
                    fields.clear()
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value
        raise AssertionError("the stream ended")

    async def next_named(self, *names: str, within: float = 10.0) -> Event:
        while True:
            event = await self.next(within)
            if event.name in names:
                return event


@asynccontextmanager
async def listening(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> AsyncIterator[EventReader]:
    async with client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = EventReader(response)
        # Subscribed from here on: later commits reach this reader.
        assert (await reader.next()).name == "ready"
        yield reader


async def test_a_committed_change_reaches_those_who_may_see_it_and_no_one_else(
    server: Server,
) -> None:
    async with (
        httpx.AsyncClient(base_url=server.base, timeout=30) as client,
        listening(client, "/api/v1/events", server.headers("mgr")) as manager,
        listening(client, "/api/v1/events", server.headers("wang")) as north_tech,
        listening(client, "/api/v1/events", server.headers("li")) as south_tech,
        listening(client, "/events/public/north", STREAM) as north_board,
    ):
        north = await open_order(server.data, "north", priority="P1")

        for reader in (manager, north_tech):
            changed = await reader.next_named("order-changed")
            assert changed.data == {
                "id": north,
                "action": "created",
                "status": "new",
                "site": "north",
                "priority": "P1",
            }
            announced = await reader.next()
            assert (announced.name, announced.id) == ("p1-raised", changed.id)
        figures = await north_board.next_named("figures-changed")
        assert figures.data == {"site": "north"}

        south = await open_order(server.data, "south")
        # The south technician's first order event is the south order's: the north one
        # was never sent to him.
        first = await south_tech.next_named("order-changed", "p1-raised")
        assert (first.name, first.data["id"]) == ("order-changed", south)
        assert (await manager.next_named("order-changed")).data["id"] == south
        # Nor does the north board hear of the south order: its next event is the next
        # north change, committed after it.
        await open_order(server.data, "north", fault_kind="stuck")
        assert first.id is not None
        later = await north_board.next_named("figures-changed")
        assert later.id is not None
        assert later.id > first.id


async def test_event_streams_refuse_clients_that_do_not_accept_them(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
        bearer = {"Authorization": f"Bearer {server.tokens['mgr']}"}
        assert (await client.get("/api/v1/events", headers=bearer)).status_code == 406
        assert (await client.get("/events/public/north")).status_code == 406
        assert (await client.get("/api/v1/events", headers=STREAM)).status_code == 401
        # A page's stream needs a session: without one, the login page.
        to_login = await client.get("/events", headers=STREAM)
        assert to_login.status_code in (302, 303)
        assert to_login.headers["location"].startswith("/login")


def _stalled_stream(server: Server) -> socket.socket:
    """A client that subscribes and then reads nothing, with the smallest receive buffer."""
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    host, port = server.base.removeprefix("http://").split(":")
    stalled.connect((host, int(port)))
    stalled.sendall(
        b"GET /api/v1/events HTTP/1.1\r\nHost: api\r\nAccept: text/event-stream\r\n"
        b"Connection: close\r\nAuthorization: Bearer " + server.tokens["mgr"].encode() + b"\r\n\r\n"
    )
    return stalled


def _read_to_end(stalled: socket.socket) -> bytes:
    stalled.settimeout(30)
    received = bytearray()
    while chunk := stalled.recv(1 << 20):
        received += chunk
    return bytes(received)


async def _comment_burst(data: Path, order: str, count: int) -> None:
    """``count`` audit entries about ``order`` in one commit, chained as audit.append
    chains them but inserted in one statement (appending one by one takes minutes)."""
    async with committing(data) as uow, uow:
        prev = await uow.session.scalar(select(AuditRow.hash).order_by(AuditRow.id.desc()))
        rows = []
        for n in range(count):
            entry = AuditEntry(
                T0, "manager:mgr", "work_order.commented", "work_order", order, detail={"n": n}
            )
            sealed = chain_hash(prev or GENESIS, entry)
            rows.append(
                {
                    "at": entry.at,
                    "actor": entry.actor,
                    "action": entry.action,
                    "entity_type": entry.entity_type,
                    "entity_id": entry.entity_id,
                    "detail": dict(entry.detail),
                    "prev_hash": prev or GENESIS,
                    "hash": sealed,
                }
            )
            prev = sealed
        await uow.session.execute(insert(AuditRow), rows)
        await uow.commit()
        assert (await audit.verify(uow.session)).intact


async def _count_until(response: httpx.Response, marker: bytes, count: int) -> None:
    seen, tail = 0, b""
    async with asyncio.timeout(60):
        async for chunk in response.aiter_bytes():
            window = tail + chunk
            seen += window.count(marker)
            # Keep a marker cut in two for the next chunk, without counting it twice.
            tail = window[-(len(marker) - 1) :]
            seen -= tail.count(marker)
            if seen >= count:
                return


async def test_a_stalled_client_is_dropped_and_the_others_still_get_everything(
    server: Server,
) -> None:
    order = await open_order(server.data, "north")
    # About 7.5 MB of events: more than the queue and the loopback socket buffers hold.
    burst = 60_000
    stalled = _stalled_stream(server)
    try:
        async with (
            httpx.AsyncClient(base_url=server.base, timeout=30) as client,
            client.stream("GET", "/api/v1/events", headers=server.headers("mgr")) as response,
        ):
            # Give the stalled client's subscription time to exist before the burst.
            await asyncio.sleep(0.5)
            await _comment_burst(server.data, order, burst)
            await _count_until(response, b"event: order-changed", burst)
        # Once it reads, the stalled client finds its stream ended well short of the burst.
        received = await asyncio.to_thread(_read_to_end, stalled)
    finally:
        stalled.close()
    assert received.startswith(b"HTTP/1.1 200")
    assert received.endswith(b"0\r\n\r\n"), "the stream did not end"
    assert received.count(b"event: order-changed") < burst


async def test_sigterm_ends_open_streams_and_the_server_exits_cleanly(server: Server) -> None:
    async with (
        httpx.AsyncClient(base_url=server.base, timeout=30) as client,
        client.stream("GET", "/api/v1/events", headers=server.headers("mgr")) as response,
    ):
        reader = EventReader(response)
        assert (await reader.next()).name == "ready"
        server.process.send_signal(signal.SIGTERM)
        with pytest.raises(AssertionError, match="the stream ended"):
            await reader.next(within=20)
    assert await asyncio.to_thread(server.process.wait, 20) == 0
