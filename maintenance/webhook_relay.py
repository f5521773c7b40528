"""Webhooks that survive a restart: the audit trail is the outbox, a cursor the progress.

Every change is audited in the transaction that makes it, so an event is never committed
without its audit entry nor the other way round. :class:`WebhookRelay` (run by the
maintenance worker, once per database) reads the entries after its cursor every
``interval``, turns each into at most one webhook event
(:func:`~maintenance.notify.webhook_event`, or a regulator report,
:func:`~maintenance.regulator_feed.regulator_report`; the entry's id as the event id)
and publishes it through the running :class:`~maintenance.webhooks.WebhookSender`.

Delivery guarantee: at least once, within the sender's retry budget
    The cursor (table ``webhook_cursor``, :mod:`maintenance.db.webhook_cursor`) advances
    only over a prefix of entries whose events every subscription is *done* with:
    delivered, refused (4xx), given up on after ``max_attempts``, or dropped because a
    queue was full (the last three are logged at ERROR by the sender and not retried
    here, so one bad receiver cannot stop the others for good). An event still queued,
    in flight or being retried when the process stops or crashes leaves the cursor before
    it, so the next relay sends it again with the same id: receivers de-duplicate on it.
    Events after a pending one are sent meanwhile; only the cursor waits for it, and at
    most ``window`` entries are held unconfirmed.

Order: entries are read in id order. Audit appends are serialised (SQLite's write lock,
PostgreSQL's table lock held to commit: see :mod:`maintenance.db.audit`), so ids become
visible in commit order and no entry can appear behind the cursor later.

One relay per database: several maintenance workers on one database would each send
every event (with the same ids, so de-duplicating receivers would still cope), so all
but one run with ``relays`` off (:mod:`maintenance.worker`). Changes
made by any process (the API's included) go out within about ``interval`` of the commit.

First start: with no cursor stored the relay starts at the newest entry, so an existing
trail is not replayed. Reads use a read-only session; the cursor is written in its own
short transaction, at most once per ``interval`` and once more at exit.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from maintenance.db import webhook_cursor
from maintenance.db.read.assets import registration_codes
from maintenance.db.tables import AuditRow
from maintenance.db.uow import SqlUnitOfWork
from maintenance.notify import webhook_event
from maintenance.periodic import Periodic
from maintenance.regulator_feed import needs_registrations, regulator_report
from maintenance.webhooks import WebhookSender

__all__ = ["WebhookRelay"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Entry:
    """An audit entry read and published, with the events not yet settled."""

    id: int
    waiting: int

    def settled(self) -> None:
        self.waiting -= 1


class WebhookRelay(Periodic):
    """Sends the audit trail's webhook events; use as ``async with WebhookRelay(...):``.

    ``sessions`` write the cursor; ``readers`` (a read-only engine's sessionmaker) read
    the trail. ``sender`` must be running for the relay's whole life. ``window`` bounds
    the entries published but not yet settled; keep it within the sender's
    ``queue_size``, or a full queue drops events (logged at ERROR) instead of waiting.
    """

    def __init__(
        self,
        sender: WebhookSender,
        sessions: async_sessionmaker[AsyncSession],
        readers: async_sessionmaker[AsyncSession],
        *,
        interval: float = 1.0,
        window: int = 100,
    ) -> None:
        super().__init__("webhook-relay", interval)
        self._sender, self._sessions, self._readers = sender, sessions, readers
        self._window = window
        self._unsettled: deque[_Entry] = deque()
        self._read_to = 0  # the newest entry published (or passed over)
        self._done = 0  # the newest entry whose events, and all before, are settled
        self._saved = 0  # the cursor as stored

    async def _starting(self) -> None:
        self._saved = self._done = self._read_to = await self._start_at()

    async def _stopped(self) -> None:
        try:
            await self._save_settled()
        except Exception:
            # Unsaved progress only means those events are sent again after the restart.
            log.exception("webhook relay: could not save the cursor at exit")

    async def _start_at(self) -> int:
        async with self._readers() as session, session.begin():
            stored = await webhook_cursor.load(session)
            if stored is not None:
                log.info("webhook relay: resuming after audit entry %d", stored)
                return stored
            newest = await session.scalar(select(func.max(AuditRow.id))) or 0
        # Stored at once: a crash before the first event must not skip what comes next.
        await self._save(newest)
        log.info("webhook relay: first start, from audit entry %d on", newest)
        return newest

    async def step(self) -> None:
        """Publish the entries after those read so far, then save settled progress."""
        room = self._window - len(self._unsettled)
        if room > 0:
            registrations: dict[str, str] = {}
            async with self._readers() as session, session.begin():
                rows = list(
                    await session.scalars(
                        select(AuditRow)
                        .where(AuditRow.id > self._read_to)
                        .order_by(AuditRow.id)
                        .limit(room)
                    )
                )
                if any(needs_registrations(row) for row in rows):
                    registrations = await registration_codes(session)
            for row in rows:
                self._publish(row, registrations)
        await self._save_settled()

    def _publish(self, row: AuditRow, registrations: dict[str, str]) -> None:
        event = webhook_event(row) or regulator_report(row, registrations)
        entry = _Entry(row.id, waiting=0 if event is None else 1)
        if event is not None:
            self._sender.publish(
                event.type, event.data, event_id=event.id, on_settled=entry.settled
            )
        self._unsettled.append(entry)
        self._read_to = row.id

    async def _save_settled(self) -> None:
        while self._unsettled and self._unsettled[0].waiting == 0:
            self._done = self._unsettled.popleft().id
        if self._done != self._saved:
            await self._save(self._done)

    async def _save(self, audit_id: int) -> None:
        async with SqlUnitOfWork(self._sessions) as uow:
            await uow.webhook_cursor.save(audit_id)
            await uow.commit()
        self._saved = audit_id
