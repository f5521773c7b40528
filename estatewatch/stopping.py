"""Clean shutdown for every long-running command: SIGINT and SIGTERM set a stop event that
the service watches, so it finishes its work in hand (flush, save, disconnect) and exits 0.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def interrupt_on_signals() -> dict[int, Any]:
    """For synchronous start-up and shutdown code: SIGTERM (and SIGINT) raise the same
    KeyboardInterrupt as Ctrl-C, so one path stops both. A second signal while things
    shut down would abandon them half-stopped, so later signals are ignored. Returns the
    handlers it replaced, for ``signal.signal`` to put back."""
    return {sig: signal.signal(sig, _raise_interrupt) for sig in STOP_SIGNALS}


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM; call it inside the running event loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    return stop


def run_until_signalled(
    service: Callable[[asyncio.Event], Awaitable[None]],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> int:
    """Run ``service(stop)`` in a fresh event loop (``loop_factory``'s, if given) until it
    returns; exit status 0."""

    async def main() -> None:
        await service(stop_on_signals())

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())
    return 0
