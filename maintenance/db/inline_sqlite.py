"""SQLite for the read-only engine, run on the event loop's own thread.

SQLAlchemy's ``sqlite+aiosqlite`` driver hands every call (open a cursor, execute, fetch,
close, begin, roll back) to the connection's own thread and waits for the answer: four
or five trips a query, each a queue, a future and a wake-up of the event loop. Measured
on the API's work-order reads, a query cost ~0.3 ms of CPU that way and a session
(begin, roll back) ~0.6 ms, against ~0.02 ms for the same query done directly, and the
indexed queries themselves take 0.02-0.2 ms. :func:`connect` gives SQLAlchemy's aiosqlite
dialect a connection with aiosqlite's interface whose calls run at once, in the caller's
thread, so the dialect, its types and our pragmas stay as they are.

The price: while SQLite runs a statement the event loop waits. For the indexed reads of
pages and the API that is less than the trips it saves; a long scan (a year of KPIs) now
holds the loop for its SQL time as well as for the Python that turns its rows into
orders, which it already held. Only the read-only engine uses this
(:func:`maintenance.db.engine.make_engine`); writers keep aiosqlite, whose busy_timeout
wait for the write lock must not stop the loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, Self

__all__ = ["InlineConnection", "connect"]


class InlineCursor:
    """An aiosqlite-style cursor over a ``sqlite3.Cursor``; every call completes at once."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> Self:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Self:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> Sequence[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """What SQLAlchemy's aiosqlite adapter uses of ``aiosqlite.Connection``."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        # The adapter tests ``_connection`` to tell an open connection from a closed one.
        self._connection: sqlite3.Connection | None = connection

    @property
    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("Connection closed")  # what aiosqlite says; the dialect maps it
        return self._connection

    @property
    def isolation_level(self) -> str | None:
        return self._open.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._open.cursor())

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        self._open.commit()

    async def rollback(self) -> None:
        self._open.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def connect(database: str) -> InlineConnection:
    """A connection to the SQLite file ``database`` in autocommit mode at the driver
    (``isolation_level=None``: the engine's begin listener starts transactions).

    ``check_same_thread=False``: the pool may close a connection from the garbage
    collector's thread; every statement still runs on the loop's thread, one at a time.
    """
    return InlineConnection(
        sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    )
