"""Engines and sessions: any SQLAlchemy async URL; SQLite (WAL) under the data directory by default.

On SQLite every connection gets ``journal_mode=WAL`` (readers never block the writer),
``foreign_keys=ON`` (SQLite ignores foreign keys otherwise), ``busy_timeout`` (a writer
waits for the lock instead of failing at once) and ``synchronous=NORMAL`` (in WAL mode a
power cut may lose the last commits but never corrupts the file).

Every SQLite transaction starts with ``BEGIN IMMEDIATE``, taking the write lock up front.
With the driver's default (deferred) BEGIN, two transactions could both read the audit
head or a work-order counter and the second would then fail on upgrading to a writer
(``SQLITE_BUSY``, which busy_timeout cannot wait out); taking the lock first makes
concurrent writers queue instead. The price is that transactions, readers included, run
one at a time, which suits the embedded default; PostgreSQL is for more.

Readers need none of that: a *read-only* engine (``read_only=True``, what the API's
queries use) begins deferred transactions on connections set ``query_only``, so in WAL
mode they read a consistent snapshot while a writer works, and never queue for its lock.
Its statements run on the event loop's thread (:mod:`maintenance.db.inline_sqlite`), not
handed to a driver thread and back: a read never waits for a lock, and its trips to and
from that thread cost more than the indexed queries themselves. On PostgreSQL a read-only
engine's connections are read-only sessions in autocommit (see :func:`make_engine`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from maintenance.db import inline_sqlite
from maintenance.db.errors import StorageError

BUSY_TIMEOUT_MS = 10_000
DB_FILE = "maintenance.db"

Reads = AsyncSession | AsyncConnection
"""What the reads of plain columns run on: a session, or a bare Core connection where
opening and closing a session would cost more than the queries (the API's hot reads)."""

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA synchronous=NORMAL",
)


def default_url(data_dir: Path) -> str:
    """``sqlite+aiosqlite:///<data_dir>/maintenance.db``."""
    url = URL.create("sqlite+aiosqlite", database=str(data_dir / DB_FILE))
    return url.render_as_string(hide_password=False)


def ensure_sqlite_dir(url: str) -> None:
    """Create the directory of an SQLite file URL (SQLite creates files, not directories)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url``; no connection is made until first use."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if not read_only:
            return create_async_engine(url, pool_pre_ping=True, **kwargs)
        # PostgreSQL reads at READ COMMITTED, where every statement takes its own snapshot
        # with or without a transaction around it; so a reader runs without one and saves
        # each read a BEGIN and a ROLLBACK, and its pre-ping theirs too (seven trips to
        # the server became two). The session is read-only at the server instead.
        kwargs.setdefault("isolation_level", "AUTOCOMMIT")
        # Kept open for a busy API's concurrent reads: with the default five, every read
        # past the fifth opened a connection of its own and closed it after, and a new
        # PostgreSQL session (a backend process) costs far more than the read (100 new
        # sessions in 8 s at 250 requests/s, against 1 with twenty).
        kwargs.setdefault("pool_size", 20)
        reader = create_async_engine(url, pool_pre_ping=True, **kwargs)
        event.listen(reader.sync_engine, "connect", _postgres_connect_reader)
        return reader
    if read_only and parsed.database not in (None, "", ":memory:"):
        database = parsed.database

        async def inline() -> inline_sqlite.InlineConnection:
            return inline_sqlite.connect(database)

        kwargs.setdefault("async_creator", inline)
    engine = create_async_engine(url, **kwargs)
    event.listen(
        engine.sync_engine, "connect", _sqlite_connect_reader if read_only else _sqlite_connect
    )
    event.listen(engine.sync_engine, "begin", _sqlite_begin_read if read_only else _sqlite_begin)
    return engine


@asynccontextmanager
async def open_engine(url: str, *, read_only: bool = False) -> AsyncIterator[AsyncEngine]:
    """An engine for a composition root's lifetime.

    Creates an SQLite file's directory, disposes of the pool at exit, and turns a
    SQLAlchemy error escaping the block into a StorageError naming the database.
    """
    ensure_sqlite_dir(url)
    engine = make_engine(url, read_only=read_only)
    try:
        yield engine
    except SQLAlchemyError as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise StorageError(
            f"maintenance database {where}: {getattr(exc, 'orig', None) or exc}"
        ) from exc
    finally:
        await engine.dispose()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Objects stay readable after commit: the service layer returns them to callers.
    return async_sessionmaker(engine, expire_on_commit=False)


def _sqlite_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    _pragmas(dbapi_connection, _SQLITE_PRAGMAS)


def _sqlite_connect_reader(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    _pragmas(dbapi_connection, (*_SQLITE_PRAGMAS, "PRAGMA query_only=ON"))


def _postgres_connect_reader(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # A reader that tries to write is refused by the server, as SQLite's query_only does.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET SESSION default_transaction_read_only = on")
    finally:
        cursor.close()
    # Committed, in case the driver opened a transaction for the SET: a rolled-back SET
    # is undone. (Under AUTOCOMMIT there is nothing to commit.)
    dbapi_connection.commit()


def _pragmas(dbapi_connection: Any, pragmas: tuple[str, ...]) -> None:
    # Autocommit at the driver level, so that the begin listener alone decides how a
    # transaction starts (the recipe in SQLAlchemy's SQLite dialect documentation).
    if dbapi_connection.isolation_level is not None:  # an inline reader's already is
        dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in pragmas:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_begin_read(connection: Connection) -> None:
    # On the driver's cursor: through exec_driver_sql this BEGIN cost a read session more
    # than its indexed query (a statement's whole execution path, for two words).
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute("BEGIN")
    finally:
        cursor.close()
