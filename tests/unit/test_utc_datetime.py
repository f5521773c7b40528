"""UtcDateTime's quick SQLite read gives what SQLAlchemy's own parse followed by
``replace(tzinfo=UTC)`` gives, for the text SQLite holds (written by SQLAlchemy, with or
without microseconds, or in another shape by hand)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects.sqlite import pysqlite

from maintenance.db.tables import UtcDateTime

SQLITE = pysqlite.dialect()


@pytest.mark.parametrize(
    "stored",
    [
        "2026-11-24 12:00:00.123456",
        "2026-11-24 12:00:00.000000",
        "2026-11-24 12:00:00",
        "2026-02-28 23:59:59.999999",
        "2026-11-24T12:00:00",
        "2026-11-24 12:00:00+00:00",
        "2026-11-24 12:00",
        None,
    ],
)
def test_a_stored_time_reads_as_the_usual_parse_in_utc(stored: str | None) -> None:
    quick = UtcDateTime().dialect_impl(SQLITE).result_processor(SQLITE, None)
    usual = DateTime().dialect_impl(SQLITE).result_processor(SQLITE, None)
    assert quick is not None
    assert usual is not None
    parsed = usual(stored)
    expected = None if parsed is None else parsed.replace(tzinfo=UTC)
    got = quick(stored)
    assert got == expected
    assert got is None or got.tzinfo is UTC


def test_what_sqlalchemy_writes_reads_back_unchanged() -> None:
    bind = UtcDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    read = UtcDateTime().dialect_impl(SQLITE).result_processor(SQLITE, None)
    assert bind is not None
    assert read is not None
    when = datetime(2026, 11, 24, 4, 5, 6, 7, tzinfo=UTC)
    assert read(bind(when)) == when
