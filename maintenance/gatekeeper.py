"""The maintenance worker believes only senders in the register (issue 16).

:class:`Gatekeeper` says of each message that passed the central checks whether its
device (``site/device_type/device_id``, an asset of the register) and its gateway (one of
the site's ``gateways``) are known. A message from an unknown device or through an
unknown gateway goes to no rule, alarm or work order: it is acknowledged and its sender
*quarantined* (:mod:`maintenance.domain.quarantine`), listed for an operator to register
or block. A gateway's status is judged by its gateway alone.

The register is read once at start and again when an unknown sender turns up, at most
every ``reload_after`` seconds, so a newly registered device is believed within about a
second and a flood of spoofed ids costs one read a second, not one per message.
Sightings are folded in memory and written every ``flush_every`` seconds (a crash loses
at most that much of the counts, never a decision), by a task the context manager runs.

Ingest does not ask the register: it stores what passes the central checks, an unknown
device's readings included, under that device's id, so registering a device keeps what it
sent meanwhile (the checks keep InfluxDB's schema fixed whatever the id).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from estatewatch.clock import Clock
from estatewatch.inbound import DeviceMessage
from estatewatch.wire import EventMessage, GatewayStatus, TelemetryMessage
from maintenance.db.read.quarantine import known_senders
from maintenance.domain.ports import UnitOfWork
from maintenance.domain.quarantine import GATEWAY, SAMPLE_LIMIT, Sighting, sender_key
from maintenance.services.quarantine import note_sightings

__all__ = ["Gatekeeper"]

log = logging.getLogger("estatewatch.maintenance")


class Gatekeeper:
    def __init__(
        self,
        reader: async_sessionmaker[AsyncSession],
        uow: Callable[[], UnitOfWork],
        clock: Clock,
        *,
        reload_after: float = 1.0,
        flush_every: float = 1.0,
    ) -> None:
        self._reader, self._uow, self._clock = reader, uow, clock
        self._reload_after, self._flush_every = reload_after, flush_every
        self._known: frozenset[str] = frozenset()
        # Senders found in the register since it was read: a message's senders are known
        # again by one look-up instead of building their keys. As many as the register has.
        self._admitted: set[tuple[tuple[str, str, str], ...]] = set()
        self._loaded_at = -reload_after
        self._pending: dict[str, Sighting] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        await self._load()
        self._task = asyncio.create_task(self._flushing(), name="maintenance-quarantine")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()

    async def admit(self, gateway_id: str, message: DeviceMessage) -> bool:
        """Whether ``message``, through ``gateway_id``, comes from known senders; if not,
        its senders are noted. A bundle's messages (wire version 2) come one by one."""
        unknown = self._unknown(gateway_id, message)
        if unknown and time.monotonic() - self._loaded_at >= self._reload_after:
            await self._load()
            unknown = self._unknown(gateway_id, message)
        if not unknown:
            return True
        at, sample = self._clock(), _gist(message)
        for site, device_type, device_id in unknown:
            seen = Sighting(site, device_type, device_id, gateway_id, at, at, 1, sample)
            earlier = self._pending.get(seen.key)
            self._pending[seen.key] = seen if earlier is None else earlier.merge(seen)
        return False

    async def flush(self) -> None:
        """Write what was seen since the last flush."""
        pending, self._pending = self._pending, {}
        if pending:
            await note_sightings(self._uow(), pending.values())

    def _unknown(self, gateway_id: str, message: DeviceMessage) -> list[tuple[str, str, str]]:
        senders = [(message.site, GATEWAY, gateway_id)]
        if not isinstance(message, GatewayStatus):
            senders.append((message.site, message.device_type, message.device_id))
        together = tuple(senders)
        if together in self._admitted:
            return []
        unknown = [s for s in senders if sender_key(*s) not in self._known]
        if not unknown:
            self._admitted.add(together)
        return unknown

    async def _load(self) -> None:
        async with self._reader() as session:
            self._known = (await known_senders(session)).keys
        self._admitted = set()
        self._loaded_at = time.monotonic()

    async def _flushing(self) -> None:
        while True:
            await asyncio.sleep(self._flush_every)
            try:
                await self.flush()
            except Exception:
                # The counts wait for the next flush; detection goes on meanwhile.
                log.exception("maintenance: the quarantine's sightings were not saved")


def _gist(message: DeviceMessage) -> str:
    """What a message was, for an operator deciding about its sender."""
    if isinstance(message, TelemetryMessage):
        last = message.readings[-1]
        fields = ", ".join(sorted(last.fields))
        text = f"telemetry ({message.profile}) at {last.ts.isoformat()}: {fields}"
    elif isinstance(message, EventMessage):
        text = f"event {message.kind} at {message.ts.isoformat()}"
    else:
        text = f"status {message.state} at {message.ts.isoformat()}"
    return text[:SAMPLE_LIMIT]
