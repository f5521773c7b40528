"""Live changes for open pages: one hub per API process tails the audit trail and fans
each new entry out to the connected Server-Sent-Events clients that may see it.

Every change, whichever process makes it (the maintenance worker raising an alarm,
another API process assigning an order), is audited in its own transaction, so the audit
trail is the change log. :class:`LiveHub` reads the entries after the newest one it has
seen every ``interval`` (one read-only query per poll for all clients, see
:mod:`maintenance.db.read.changes`) and turns each into at most two small named events,
encoded once:

- ``order-changed``: any work-order entry; data ``id``, ``action``, ``status``,
  ``site``, ``priority``;
- ``alarm-changed``: any alarm entry; the same and ``building``;
- ``p1-raised``: also sent for an order created as or raised to P1
  (:func:`maintenance.notify.raises_p1`), with the ``order-changed`` data;
- ``figures-changed``: to anonymous subscribers only, when an order at their site
  changed state; data ``site`` alone.

Served by ``/events`` (pages, :mod:`api.web.routes.live`), ``/api/v1/events`` (tokens,
:mod:`api.routes.events`) and ``/events/public/{site}``. Every event's SSE ``id`` is the
audit entry's id. Pages react with htmx
(``hx-trigger="sse:order-changed"``) by fetching the part that changed, so an event
carries no more than a page needs to decide whether to refresh.

Who gets what: each :class:`Subscription` has a predicate over the change (for a person,
:func:`api.visibility.can_see_change`: the same rules as the JSON API); an anonymous
subscription gets only ``figures-changed`` for its site, never a name or an id.

Slow clients: each subscription holds at most ``queue_bytes`` of undelivered events. One
that falls that far behind is dropped (its stream ends; a browser's EventSource
reconnects and the page reloads its parts), so a stalled reader costs bounded memory.
:meth:`LiveHub.close` ends every stream, so a server shutting down (SIGTERM) is not held
open by them; the API's ``serve`` calls it before uvicorn waits for open requests.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, Final, Self

from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.errors import Problem
from maintenance.db.read.changes import Change, changes_after, newest_change
from maintenance.notify import raises_p1

__all__ = [
    "EVENT_STREAM",
    "LiveHub",
    "Subscription",
    "encode",
    "events_of",
    "public_site_of",
    "stream_response",
]

log = logging.getLogger(__name__)

_NAMES: Final = {"work_order": "order-changed", "alarm": "alarm-changed"}
# How long a browser waits before reconnecting a dropped stream, in ms (SSE "retry:").
_RETRY_MS: Final = 2000
_KEEP_ALIVE: Final = b": keep-alive\n\n"
EVENT_STREAM: Final = "text/event-stream"

Sees = Callable[[Change], bool]


def encode(name: str, event_id: int | None, data: dict[str, Any]) -> bytes:
    """One SSE frame; the data is one line of JSON."""
    head = f"event: {name}\n" + ("" if event_id is None else f"id: {event_id}\n")
    return (head + "data: " + json.dumps(data, separators=(",", ":")) + "\n\n").encode()


def events_of(change: Change) -> list[tuple[str, dict[str, Any]]]:
    """The named events a person who may see ``change`` is sent (none for other kinds)."""
    name = _NAMES.get(change.entity_type)
    if name is None:
        return []
    facts = change.facts
    data: dict[str, Any] = {
        "id": change.entity_id,
        "action": change.action.partition(".")[2],
        "status": change.to_state,
        "site": None if facts is None else facts.site,
        "priority": None if facts is None else facts.priority,
    }
    if change.entity_type == "alarm":
        data["building"] = None if facts is None else facts.building
    events = [(name, data)]
    if raises_p1(change.action, change.detail):
        events.append(("p1-raised", data))
    return events


def public_site_of(change: Change) -> str | None:
    """The site whose public figures ``change`` moves: an order changing state."""
    if change.entity_type != "work_order" or change.facts is None or change.to_state is None:
        return None
    return change.facts.site


class Subscription:
    """One connected client: a bounded queue of encoded frames, read by :meth:`stream`."""

    def __init__(self, sees: Sees | None, *, public_site: str | None, limit: int) -> None:
        self.sees, self.public_site = sees, public_site
        self._limit = limit  # bytes
        self._pending: deque[bytes] = deque()
        self._size = 0
        self._wake = asyncio.Event()
        self.ended = False
        self.dropped = False

    def offer(self, frame: bytes) -> bool:
        """Queue ``frame``; False (and the subscription dropped) when the queue is full."""
        if self.ended:
            return True
        if self._size + len(frame) > self._limit:
            self.dropped = True
            self.end()
            return False
        self._pending.append(frame)
        self._size += len(frame)
        self._wake.set()
        return True

    def end(self) -> None:
        """Finish the stream once what is queued is sent (nothing is, when dropped)."""
        self.ended = True
        if self.dropped:
            self._pending.clear()
            self._size = 0
        self._wake.set()

    async def frames(self, keep_alive: float) -> AsyncIterator[bytes]:
        """The frames as they come, a comment every ``keep_alive`` s of silence (which
        also finds a client that went away), until the subscription ends."""
        yield f"retry: {_RETRY_MS}\n\n".encode() + encode("ready", None, {})
        while True:
            if self._pending:
                batch = b"".join(self._pending)
                self._pending.clear()
                self._size = 0
                yield batch
                continue
            if self.ended:
                return
            self._wake.clear()
            try:
                async with asyncio.timeout(keep_alive):
                    await self._wake.wait()
            except TimeoutError:
                yield _KEEP_ALIVE


class LiveHub:
    """Tails the audit trail and fans out; use as ``async with LiveHub(readers):``.

    ``readers`` is a read-only sessionmaker (a poll never waits for a writer). The hub
    starts after the newest entry at entry: a page that connects loads its data first,
    then hears only about later changes.
    """

    def __init__(
        self,
        readers: async_sessionmaker[AsyncSession],
        *,
        interval: float = 0.5,
        queue_bytes: int = 1 << 20,
        batch: int = 500,
    ) -> None:
        self._readers = readers
        self._interval, self._queue_bytes, self._batch = interval, queue_bytes, batch
        self._subscriptions: set[Subscription] = set()
        self._after = 0
        self._closed = False
        self._tasks: asyncio.TaskGroup | None = None
        self._loop: asyncio.Task[None] | None = None

    @property
    def clients(self) -> int:
        return len(self._subscriptions)

    async def __aenter__(self) -> Self:
        async with self._readers() as session, session.begin():
            self._after = await newest_change(session)
        tasks = asyncio.TaskGroup()
        await tasks.__aenter__()
        self._tasks = tasks
        self._loop = tasks.create_task(self._run(), name="live-hub")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        tasks, self._tasks = self._tasks, None
        if tasks is None:
            return
        if self._loop is not None:
            self._loop.cancel()
        await tasks.__aexit__(exc_type, exc, tb)

    def subscribe(self, sees: Sees) -> Subscription:
        """A person's stream: the changes ``sees`` lets through."""
        return self._add(Subscription(sees, public_site=None, limit=self._queue_bytes))

    def subscribe_public(self, site: str) -> Subscription:
        """An anonymous stream: only that ``site``'s public figures changed."""
        return self._add(Subscription(None, public_site=site, limit=self._queue_bytes))

    def _add(self, subscription: Subscription) -> Subscription:
        # After close() a new stream ends at once: the server is on its way down.
        if self._closed:
            subscription.end()
        else:
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def close(self) -> None:
        """End every stream and accept no more (the server is stopping)."""
        self._closed = True
        for subscription in self._subscriptions:
            subscription.end()
        self._subscriptions.clear()

    async def _run(self) -> None:
        while True:
            try:
                full = await self._step()
            except Exception:
                # A database hiccup must not end live updates; the next poll tries again.
                log.exception("live hub: a poll failed; retrying in %.1f s", self._interval)
                full = False
            if not full:
                await asyncio.sleep(self._interval)

    async def _step(self) -> bool:
        """Fan out the entries after those seen; True when a whole batch was read."""
        async with self._readers() as session, session.begin():
            changes = await changes_after(session, self._after, self._batch)
        if changes:
            self._fan_out(changes)
            self._after = changes[-1].id
        return len(changes) == self._batch

    def _fan_out(self, changes: list[Change]) -> None:
        """Each subscription is offered one chunk per poll: the frames it may see."""
        encoded = [
            (
                change,
                b"".join(encode(name, change.id, data) for name, data in events_of(change)),
                public_site_of(change),
            )
            for change in changes
        ]
        for subscription in list(self._subscriptions):
            sees, site = subscription.sees, subscription.public_site
            if sees is not None:
                chunk = b"".join(frames for change, frames, _ in encoded if sees(change))
            else:
                chunk = b"".join(
                    encode("figures-changed", change.id, {"site": site})
                    for change, _, changed_site in encoded
                    if changed_site == site
                )
            if chunk and not subscription.offer(chunk):
                self._subscriptions.discard(subscription)
                log.warning(
                    "live hub: a client fell %d bytes behind and was dropped", self._queue_bytes
                )


def stream_response(
    request: Request, hub: LiveHub, subscription: Subscription, keep_alive: float
) -> StreamingResponse:
    """The HTTP response streaming ``subscription``; a client that does not accept
    ``text/event-stream`` gets 406 instead of a response that never ends."""
    if EVENT_STREAM not in request.headers.get("accept", ""):
        hub.unsubscribe(subscription)
        raise Problem(
            406,
            f"{request.url.path} is an event stream: send 'Accept: {EVENT_STREAM}'",
            kind="not-acceptable",
        )

    async def frames() -> AsyncIterator[bytes]:
        try:
            async for frame in subscription.frames(keep_alive):
                yield frame
        finally:
            # The client went away, was dropped, or the server is stopping.
            hub.unsubscribe(subscription)

    return StreamingResponse(
        frames(),
        media_type=EVENT_STREAM,
        # No proxy may buffer or cache a live stream.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
