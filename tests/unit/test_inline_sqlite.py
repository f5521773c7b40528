"""The read-only SQLite engine runs its statements on the event loop's thread
(maintenance/db/inline_sqlite.py) and reads what the writer committed, and nothing more."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from maintenance.db.engine import default_url, make_engine
from maintenance.db.inline_sqlite import InlineConnection


async def test_a_reader_runs_on_the_loops_thread_and_sees_committed_rows(tmp_path: Path) -> None:
    url = default_url(tmp_path)
    writer, reader = make_engine(url), make_engine(url, read_only=True)
    try:
        async with writer.begin() as connection:
            await connection.execute(text("CREATE TABLE t (n INTEGER, at TEXT)"))
            await connection.execute(text("INSERT INTO t VALUES (1, 'one'), (2, 'two')"))
        async with reader.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert isinstance(driver, InlineConnection)
            seen: list[int] = []

            def thread_id() -> int:
                seen.append(threading.get_ident())
                return 0

            await driver.create_function("thread_id", 0, thread_id)
            rows = (await connection.execute(text("SELECT n, at, thread_id() FROM t"))).all()
            assert [(n, at) for n, at, _ in rows] == [(1, "one"), (2, "two")]
            assert seen == [threading.get_ident()] * 2
            assert (await connection.execute(text("PRAGMA query_only"))).scalar() == 1
            with pytest.raises(OperationalError, match="readonly"):
                await connection.execute(text("INSERT INTO t VALUES (3, 'three')"))
    finally:
        await reader.dispose()
        await writer.dispose()


async def test_a_closed_connection_says_so() -> None:
    connection = InlineConnection(sqlite3.connect(":memory:"))
    await connection.close()
    with pytest.raises(ValueError, match="Connection closed"):
        connection.cursor()
