"""Use cases of the quarantine (:mod:`maintenance.domain.quarantine`): what the worker
heard from unknown senders, and an operator's decision on an entry.

:func:`note_sightings` adds the worker's sightings to their entries. :func:`block` keeps
an entry quarantined for good (its sender is still counted, never believed).
:func:`register` puts the sender in the register in the same transaction as the
decision: a gateway into its site's gateways, a device into one of its site's buildings
with the facts a site file gives (``device``: an :data:`maintenance.sites.Device` named as
the entry), so its next messages are judged like any other's. Errors: NotFound for an
unknown entry; InvalidRequest for a registered entry, a device without its facts or with
another name or kind, or a site or building the register does not have.
"""

from __future__ import annotations

from collections.abc import Iterable

from estatewatch.clock import Clock
from maintenance.db.read.assets import DEVICE_TYPE_OF_KIND
from maintenance.domain.errors import InvalidRequest
from maintenance.domain.ports import UnitOfWork
from maintenance.domain.quarantine import GATEWAY, Decision, Sighting
from maintenance.sites import Device

__all__ = ["block", "note_sightings", "register"]


async def note_sightings(uow: UnitOfWork, sightings: Iterable[Sighting]) -> None:
    async with uow:
        await uow.quarantine.note(sightings)
        await uow.commit()


async def block(uow: UnitOfWork, entry_id: int, *, by: str, clock: Clock) -> None:
    await _decide(uow, entry_id, "blocked", by, clock)


async def register(
    uow: UnitOfWork,
    entry_id: int,
    *,
    by: str,
    clock: Clock,
    building: str | None = None,
    device: Device | None = None,
) -> None:
    await _decide(uow, entry_id, "registered", by, clock, building, device)


async def _decide(
    uow: UnitOfWork,
    entry_id: int,
    decision: Decision,
    by: str,
    clock: Clock,
    building: str | None = None,
    device: Device | None = None,
) -> None:
    at = clock()
    async with uow:
        entry = await uow.quarantine.entry(entry_id)
        if decision == "registered":
            if entry.device_type == GATEWAY:
                await uow.quarantine.add_gateway(entry.site, entry.device_id, by=by, at=at)
            else:
                if building is None or device is None:
                    raise InvalidRequest(
                        f"registering device {entry.device_id} needs its building and facts"
                    )
                if device.name != entry.device_id:
                    raise InvalidRequest(
                        f"the entry is device {entry.device_id}, not {device.name}"
                    )
                if DEVICE_TYPE_OF_KIND[device.kind] != entry.device_type:
                    raise InvalidRequest(
                        f"{entry.device_id} sends as a {entry.device_type}, not a {device.kind}"
                    )
                await uow.sites.register_device(entry.site, building, device, actor=by, at=at)
        await uow.quarantine.decide(entry_id, decision, by=by, at=at)
        await uow.commit()
