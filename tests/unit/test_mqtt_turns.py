"""A backlog handed on from the MQTT client gives the event loop turns: without them a
handler that never waits holds the loop, and the connection's keepalive and acks (other
tasks) wait for the whole backlog."""

from __future__ import annotations

import asyncio
from itertools import pairwise

from estatewatch.mqtt.link import in_turns


async def test_other_tasks_run_while_a_backlog_is_handed_on() -> None:
    now = 0.0
    events: list[str] = []

    async def deliver(item: int) -> None:
        nonlocal now
        now += 0.005  # 5 ms of decoding, and no await that waits
        events.append(f"message {item}")

    async def keepalive() -> None:
        while True:
            events.append("keepalive")
            await asyncio.sleep(0)

    async with asyncio.TaskGroup() as tasks:
        other = tasks.create_task(keepalive())
        await asyncio.sleep(0)
        events.clear()
        await in_turns(range(100), deliver, turn_s=0.02, clock=lambda: now)
        other.cancel()

    delivered = [e for e in events if e.startswith("message")]
    assert delivered == [f"message {i}" for i in range(100)]  # all, in order
    # The other task ran every 20 ms of handling: after every fourth message.
    turns = [i for i, e in enumerate(events) if e == "keepalive"]
    assert len(turns) >= 24
    assert all(b - a <= 6 for a, b in pairwise(turns))
