"""Clean shutdown for every long-running command: SIGINT and SIGTERM set a stop event that
the service watches, so it finishes its work in hand (flush, save, disconnect) and exits 0.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM; call it inside the running event loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def run_until_signalled(service: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """Run ``service(stop)`` in a fresh event loop until it returns; exit status 0."""

    async def main() -> None:
        await service(stop_on_signals())

    asyncio.run(main())
    return 0
