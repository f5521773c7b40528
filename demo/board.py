"""What the demo console shows, read from the running platform.

Readings per second come from the ingest worker's Prometheus counter; alarms and work
orders from the maintenance database (read-only, the worker writes it), with each open
order's most urgent SLA clock: acknowledge, then first feedback, then resolve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from maintenance.db.read.alarms import AlarmFilters, list_alarms
from maintenance.db.read.pages import MAX_PAGE_SIZE, PageRequest
from maintenance.db.read.work_orders import open_orders
from maintenance.domain.sla import SlaClock, SlaClocks, SlaPolicy

_MESSAGES = "estatewatch_ingest_messages_total"
_POINTS = "estatewatch_ingest_points_written_total"


@dataclass(frozen=True)
class AlarmLine:
    raised_at: datetime
    rule: str
    device: str
    priority: str | None
    count: int
    work_order: str | None


@dataclass(frozen=True)
class OrderLine:
    id: str
    priority: str
    status: str
    title: str
    clock: str  # "acknowledge", "feedback" or "resolve"
    remaining: timedelta  # negative: overdue


@dataclass
class Board:
    at: datetime
    messages_per_s: float = 0.0
    points_per_s: float = 0.0
    points_stored: int = 0
    alarms: list[AlarmLine] = field(default_factory=list)
    orders: list[OrderLine] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)


class BoardReader:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], metrics_url: str, policy: SlaPolicy
    ) -> None:
        self._sessions, self._metrics_url, self._policy = sessions, metrics_url, policy
        self._last: tuple[datetime, int, int] | None = None

    async def read(self, now: datetime, steps: list[str]) -> Board:
        board = Board(at=now, steps=list(steps))
        await self._rates(board)
        async with self._sessions() as session:
            # The newest page of active alarms is plenty for a console; shown oldest first.
            alarms = await list_alarms(
                session, filters=AlarmFilters(active=True), page=PageRequest(MAX_PAGE_SIZE)
            )
            orders = await open_orders(session)
        board.alarms = [
            AlarmLine(a.raised_at, a.rule, a.device_id, a.priority, a.count, a.work_order_id)
            for a in reversed(alarms.items)
        ]
        for order in orders:
            name, clock = _urgent(SlaClocks.of(order, self._policy, now))
            board.orders.append(
                OrderLine(
                    order.id, order.priority, order.status.value, order.title, name, clock.remaining
                )
            )
        board.orders.sort(key=lambda o: (o.priority, o.remaining))
        return board

    async def _rates(self, board: Board) -> None:
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                text = (await client.get(self._metrics_url)).text
        except httpx.HTTPError:
            return  # ingest not up yet: no rates this time
        values = dict(
            line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
        )
        messages, points = int(float(values.get(_MESSAGES, 0))), int(float(values.get(_POINTS, 0)))
        board.points_stored = points
        if self._last is not None:
            seconds = (board.at - self._last[0]).total_seconds()
            if seconds > 0:
                board.messages_per_s = (messages - self._last[1]) / seconds
                board.points_per_s = (points - self._last[2]) / seconds
        self._last = (board.at, messages, points)


def _urgent(clocks: SlaClocks) -> tuple[str, SlaClock]:
    for name, clock in (
        ("acknowledge", clocks.response),
        ("feedback", clocks.feedback),
        ("resolve", clocks.resolution),
    ):
        if clock.stopped_at is None:
            return name, clock
    return "resolve", clocks.resolution
