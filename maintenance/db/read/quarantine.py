"""The quarantine's read model: who the register knows (for the worker's gatekeeper) and
the quarantine's entries (for the API and the web page)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from maintenance.db.quarantine_tables import QuarantineRow, SiteGateway
from maintenance.db.read.assets import asset_register
from maintenance.db.tables import Site
from maintenance.domain.errors import NotFound
from maintenance.domain.quarantine import GATEWAY, sender_key

__all__ = [
    "KnownSenders",
    "QuarantineEntry",
    "known_senders",
    "quarantine_entries",
    "quarantine_entry",
]


@dataclass(frozen=True, slots=True)
class KnownSenders:
    """Sender keys (``site/device_type/device_id``, ``site/gateway/id``) the register has."""

    keys: frozenset[str]


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    id: int
    site: str
    device_type: str
    """The wire's device type, or ``gateway``."""
    device_id: str
    gateway_id: str
    first_seen: datetime
    last_seen: datetime
    messages: int
    sample: str
    state: str
    decided_by: str | None
    decided_at: datetime | None

    @property
    def is_gateway(self) -> bool:
        return self.device_type == GATEWAY


async def known_senders(session: AsyncSession) -> KnownSenders:
    gateways = await session.execute(
        select(Site.code, SiteGateway.gateway_id).join(Site, SiteGateway.site_id == Site.id)
    )
    keys = set(await asset_register(session))
    keys.update(sender_key(site, GATEWAY, gateway) for site, gateway in gateways.all())
    return KnownSenders(frozenset(keys))


async def quarantine_entries(
    session: AsyncSession,
    *,
    sites: Collection[str] | None = None,
    states: Collection[str] = ("held", "blocked"),
    limit: int | None = None,
    offset: int = 0,
) -> list[QuarantineEntry]:
    """Entries of ``sites`` (None: every site) in ``states``, the most recently heard
    first; ``limit`` of them after ``offset`` (a flood of invented ids is one entry each)."""
    query = select(QuarantineRow).where(QuarantineRow.state.in_(list(states)))
    if sites is not None:
        query = query.where(QuarantineRow.site.in_(list(sites)))
    query = query.order_by(QuarantineRow.last_seen.desc(), QuarantineRow.id.desc())
    query = query.offset(offset).limit(limit)
    return [_entry(row) for row in await session.scalars(query)]


async def quarantine_entry(session: AsyncSession, entry_id: int) -> QuarantineEntry:
    """One entry, whatever its state; NotFound when there is none."""
    row = await session.get(QuarantineRow, entry_id)
    if row is None:
        raise NotFound(f"no quarantine entry {entry_id}")
    return _entry(row)


def _entry(row: QuarantineRow) -> QuarantineEntry:
    return QuarantineEntry(
        id=row.id,
        site=row.site,
        device_type=row.device_type,
        device_id=row.device_id,
        gateway_id=row.gateway_id,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        messages=row.messages,
        sample=row.sample,
        state=row.state,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )
