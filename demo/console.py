"""The demo's view: a live rich screen on a terminal, summary lines without one."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from demo.board import Board


def render(board: Board, elapsed: timedelta) -> Group:
    header = Text.assemble(
        ("estatewatch demo", "bold"),
        f"   up {_clock(elapsed)}   ",
        (f"{board.messages_per_s:,.0f} messages/s", "cyan"),
        "  ",
        (f"{board.points_per_s:,.0f} points/s", "cyan"),
        f"   {board.points_stored:,} points in InfluxDB   Ctrl-C stops everything",
    )
    steps = Text("\n".join(board.steps[-6:]) or "waiting for the first step ...", style="yellow")
    alarms = Table(title=f"active alarms ({len(board.alarms)})", expand=True)
    for column in ("raised", "rule", "device", "prio", "count", "work order"):
        alarms.add_column(column)
    for a in board.alarms[-12:]:
        alarms.add_row(
            a.raised_at.strftime("%H:%M:%S"),
            a.rule,
            a.device,
            a.priority or "notice",
            str(a.count),
            a.work_order or "",
        )
    orders = Table(title=f"open work orders ({len(board.orders)})", expand=True)
    for column in ("order", "prio", "status", "title", "SLA"):
        orders.add_column(column)
    for o in board.orders[:12]:
        overdue = o.remaining < timedelta(0)
        sla = f"{o.clock} {'OVERDUE ' if overdue else 'in '}{_clock(abs(o.remaining))}"
        orders.add_row(
            o.id, o.priority, o.status, o.title[:60], Text(sla, "red" if overdue else "green")
        )
    return Group(header, Panel(steps, title="scenario"), alarms, orders)


def summary(board: Board, elapsed: timedelta) -> str:
    orders = ", ".join(f"{o.id} {o.priority} {o.title[:40]!r}" for o in board.orders) or "none"
    return (
        f"[{_clock(elapsed)}] {board.messages_per_s:,.0f} messages/s, {board.points_stored:,}"
        f" points stored, {len(board.alarms)} active alarm(s); open work orders: {orders}"
    )


def _clock(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def is_terminal() -> bool:
    return Console().is_terminal
