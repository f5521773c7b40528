"""The API benchmark's load generator, in a process of its own: ``python -m bench.api_load SPEC``.

``SPEC`` is a JSON object (:class:`Spec`); the answer, one JSON object on standard output,
holds the latencies measured after the warm-up and this process's own CPU time, so the
benchmark can show that the generator was not what bounded the server.

Every *visit* is what a person does: a filtered list (open orders of one site at one or
two priorities, newest first, 50 per page; every fourth follows the last page's cursor),
then the detail of an order the list returned. Three ways to send them:

- ``closed``: ``clients`` connections, each starting its next visit as soon as the last
  one is answered (the server saturated; latency is mostly queueing);
- ``paced``: ``clients`` connections, each starting a visit every ``pace_s`` seconds from
  a random start (people using the app);
- ``rate``: visits start at a fixed rate (``rate / 2`` a second: two requests each) on
  whichever connection is free, a new one opened when none is (at most
  :data:`MAX_CONNECTIONS`). A list's latency counts from when its visit was *due*, not
  when it could be sent, so a server that falls behind shows it in the latencies instead
  of quietly slowing the generator down (no coordinated omission).

The client is a few lines of HTTP/1.1 over asyncio streams (keep-alive, ``GET`` only, a
``Content-Length`` body, which is all uvicorn sends for JSON), not httpx: httpx spends
about half a millisecond of CPU on a request, which at 500 requests/s would take half a
core from the two the server and the generator share.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode

from maintenance.domain.workorders import Status

SITES: Final = 8
PAGE: Final = 50
MAX_CONNECTIONS: Final = 200
_OPEN_STATUSES: Final = [s.value for s in Status if s not in (Status.CLOSED, Status.CANCELLED)]
_PRIORITY_SETS: Final = (["P1", "P2"], ["P3"], ["P2", "P3"], ["P4"])
_LENGTH: Final = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)

Params = list[tuple[str, str | int]]


@dataclass(frozen=True, slots=True)
class Spec:
    host: str
    port: int
    token: str
    mode: str  # "closed", "paced" or "rate"
    warmup_s: float
    duration_s: float
    clients: int = 20
    pace_s: float = 1.0
    rate: float = 0.0  # requests a second, for "rate"
    seed: int = 1


@dataclass
class Latencies:
    list_ms: list[float] = field(default_factory=list)
    detail_ms: list[float] = field(default_factory=list)
    errors: int = 0
    requests: int = 0  # all answered, the warm-up's too


class Connection:
    """One keep-alive HTTP/1.1 connection that sends ``GET`` with the bearer token."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes):
        self._reader = reader
        self._writer = writer
        self._head = head

    @classmethod
    async def open(cls, spec: Spec) -> Connection:
        reader, writer = await asyncio.open_connection(spec.host, spec.port)
        head = f"Host: {spec.host}:{spec.port}\r\nAuthorization: Bearer {spec.token}\r\n\r\n"
        return cls(reader, writer, head.encode())

    async def get(self, target: str) -> tuple[int, bytes]:
        """The status and body of ``GET target``."""
        self._writer.write(b"GET " + target.encode() + b" HTTP/1.1\r\n" + self._head)
        head = await self._reader.readuntil(b"\r\n\r\n")
        length = _LENGTH.search(head)
        if length is None:
            raise RuntimeError(f"an answer without Content-Length: {head[:200]!r}")
        return int(head[9:12]), await self._reader.readexactly(int(length[1]))

    def close(self) -> None:
        self._writer.close()


class Visitor:
    """Where one person is in the list (its cursor) and what they are shown."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.cursor: str | None = None
        self.visits = 0

    def list_target(self) -> str:
        params: Params = [("status", s) for s in _OPEN_STATUSES]
        params += [("site", f"site-{self.rng.randrange(SITES):02d}"), ("limit", PAGE)]
        params += [("priority", p) for p in self.rng.choice(_PRIORITY_SETS)]
        if self.cursor and self.visits % 4 == 3:
            params.append(("cursor", self.cursor))
        self.visits += 1
        return "/api/v1/work-orders?" + urlencode(params)

    async def visit(
        self, connection: Connection, due: float, measure_from: float, out: Latencies
    ) -> None:
        """A list page, then one of its orders; latencies kept when ``due`` is measured."""
        status, body = await connection.get(self.list_target())
        listed = time.perf_counter()
        out.requests += 1
        if status != 200:
            out.errors += 1
            return
        page = json.loads(body)
        self.cursor = page["next_cursor"]
        measured = due >= measure_from
        if measured:
            out.list_ms.append((listed - due) * 1000)
        if not page["items"]:
            return
        order = page["items"][self.rng.randrange(len(page["items"]))]["id"]
        status, _ = await connection.get(f"/api/v1/work-orders/{order}")
        out.requests += 1
        if status != 200:
            out.errors += 1
        elif measured:
            out.detail_ms.append((time.perf_counter() - listed) * 1000)


async def _per_client(spec: Spec, measure_from: float, until: float, out: Latencies) -> None:
    """``closed`` and ``paced``: each client on its own connection."""

    async def client(n: int) -> None:
        visitor = Visitor(spec.seed * 1000 + n)
        connection = await Connection.open(spec)
        paced = spec.mode == "paced"
        due = time.perf_counter() + (visitor.rng.uniform(0, spec.pace_s) if paced else 0.0)
        try:
            while True:
                if paced:
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                else:
                    due = time.perf_counter()
                if due >= until:
                    return
                await visitor.visit(connection, due, measure_from, out)
                due += spec.pace_s
        finally:
            connection.close()

    await asyncio.gather(*(client(n) for n in range(spec.clients)))


async def _at_rate(spec: Spec, measure_from: float, until: float, out: Latencies) -> None:
    """``rate``: a visit due every ``2 / rate`` seconds, on a free connection."""
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    opened: list[Connection] = []
    visitors = [Visitor(spec.seed * 1000 + n) for n in range(spec.clients)]

    async def visit(n: int, due: float) -> None:
        if idle.empty() and len(opened) < MAX_CONNECTIONS:
            opened.append(await Connection.open(spec))
            connection = opened[-1]
        else:
            connection = await idle.get()
        try:
            await visitors[n % len(visitors)].visit(connection, due, measure_from, out)
        finally:
            idle.put_nowait(connection)

    interval = 2.0 / spec.rate
    started = time.perf_counter()
    running: set[asyncio.Task[None]] = set()
    n = 0
    while (due := started + n * interval) < until:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        task = asyncio.create_task(visit(n, due))
        running.add(task)
        task.add_done_callback(running.discard)
        n += 1
    await asyncio.gather(*running)
    for connection in opened:
        connection.close()


async def run(spec: Spec) -> dict[str, Any]:
    out = Latencies()
    now = time.perf_counter()
    measure_from, until = now + spec.warmup_s, now + spec.warmup_s + spec.duration_s
    if spec.mode == "rate":
        await _at_rate(spec, measure_from, until, out)
    else:
        await _per_client(spec, measure_from, until, out)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "list_ms": out.list_ms,
        "detail_ms": out.detail_ms,
        "errors": out.errors,
        "requests": out.requests,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "wall_s": time.perf_counter() - now,
    }


if __name__ == "__main__":
    json.dump(asyncio.run(run(Spec(**json.loads(sys.argv[1])))), sys.stdout)
