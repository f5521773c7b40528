"""The quarantine's repository (``uow.quarantine``): sightings in, an operator's
decision on an entry, and the register entries a decision creates.

Sightings are counted, not audited (they are what was heard, not a change anyone made);
a decision is audited (``quarantine.blocked``, ``quarantine.registered``) in the unit's
transaction, as is a gateway registered from the quarantine (``gateway.created``; a
device goes through the site register's own audited path,
:meth:`maintenance.db.site_import.SqlSites.register_device`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from maintenance.db.audit import append
from maintenance.db.quarantine_tables import QuarantineRow, SiteGateway
from maintenance.db.tables import Site
from maintenance.domain.audit import AuditEntry
from maintenance.domain.errors import InvalidRequest, NotFound
from maintenance.domain.quarantine import Decision, Sighting

__all__ = ["SqlQuarantine"]


class SqlQuarantine:
    def __init__(self, session: Callable[[], AsyncSession]) -> None:
        self._session = session

    async def note(self, sightings: Iterable[Sighting]) -> None:
        """Add ``sightings`` to their entries, creating the entries not there yet."""
        session = self._session()
        wanted = {(s.site, s.device_type, s.device_id): s for s in sightings}
        if not wanted:
            return
        key = tuple_(QuarantineRow.site, QuarantineRow.device_type, QuarantineRow.device_id)
        rows = await session.scalars(select(QuarantineRow).where(key.in_(list(wanted))))
        for row in rows:
            seen = wanted.pop((row.site, row.device_type, row.device_id))
            row.gateway_id, row.sample = seen.gateway_id, seen.sample
            row.last_seen = max(row.last_seen, seen.last_seen)
            row.messages += seen.messages
        for seen in wanted.values():
            session.add(
                QuarantineRow(
                    site=seen.site,
                    device_type=seen.device_type,
                    device_id=seen.device_id,
                    gateway_id=seen.gateway_id,
                    first_seen=seen.first_seen,
                    last_seen=seen.last_seen,
                    messages=seen.messages,
                    sample=seen.sample,
                    state="held",
                )
            )
        await session.flush()

    async def entry(self, entry_id: int) -> QuarantineRow:
        row = await self._session().get(QuarantineRow, entry_id)
        if row is None:
            raise NotFound(f"no quarantine entry {entry_id}")
        return row

    async def decide(self, entry_id: int, decision: Decision, *, by: str, at: datetime) -> None:
        """Record ``decision`` on the entry (a registered entry is decided for good)."""
        row = await self.entry(entry_id)
        if row.state == "registered":
            raise InvalidRequest(f"quarantine entry {entry_id} is registered already")
        before, row.state, row.decided_by, row.decided_at = row.state, decision, by, at
        await self._audit(
            AuditEntry(
                at=at,
                actor=by,
                action=f"quarantine.{decision}",
                entity_type="quarantine",
                entity_id=f"{row.site}/{row.device_type}/{row.device_id}",
                from_state=before,
                to_state=decision,
            )
        )

    async def add_gateway(self, site: str, gateway_id: str, *, by: str, at: datetime) -> None:
        """Put ``gateway_id`` in ``site``'s register (InvalidRequest for an unknown site)."""
        session = self._session()
        site_id = await session.scalar(select(Site.id).where(Site.code == site))
        if site_id is None:
            raise InvalidRequest(f"site {site} is not in the register: import its site file first")
        known = await session.scalar(
            select(SiteGateway.id).where(
                SiteGateway.site_id == site_id, SiteGateway.gateway_id == gateway_id
            )
        )
        if known is not None:
            return
        session.add(SiteGateway(site_id=site_id, gateway_id=gateway_id))
        await self._audit(
            AuditEntry(
                at=at,
                actor=by,
                action="gateway.created",
                entity_type="gateway",
                entity_id=f"{site}/{gateway_id}",
                reason="registered from the quarantine",
            )
        )

    async def _audit(self, entry: AuditEntry) -> None:
        session = self._session()
        await session.flush()
        await append(session, entry)
