"""A step run every few seconds in a background task, for the relays that read the audit
trail (:mod:`maintenance.webhook_relay`, :mod:`maintenance.notification_relay`)."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Self

__all__ = ["Periodic"]

log = logging.getLogger(__name__)


class Periodic:
    """Runs :meth:`step` every ``interval`` seconds inside ``async with``.

    A step that raises is logged and tried again after the interval: a database hiccup
    must not end the loop for the process. Subclasses may prepare in :meth:`_starting`
    (before the first step) and finish in :meth:`_stopped` (after the last).
    """

    def __init__(self, name: str, interval: float) -> None:
        self._name, self._interval = name, interval
        self._tasks: asyncio.TaskGroup | None = None
        self._loop: asyncio.Task[None] | None = None

    async def step(self) -> None:
        raise NotImplementedError

    async def _starting(self) -> None:
        """Before the first step."""

    async def _stopped(self) -> None:
        """After the last step."""

    async def __aenter__(self) -> Self:
        await self._starting()
        tasks = asyncio.TaskGroup()
        await tasks.__aenter__()
        self._tasks = tasks
        self._loop = tasks.create_task(self._run(), name=self._name)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tasks, self._tasks = self._tasks, None
        if tasks is None:
            return
        if self._loop is not None:
            self._loop.cancel()
        await tasks.__aexit__(exc_type, exc, tb)
        await self._stopped()

    async def _run(self) -> None:
        while True:
            try:
                await self.step()
            except Exception:
                log.exception("%s: a step failed; retrying in %.1f s", self._name, self._interval)
            await asyncio.sleep(self._interval)
