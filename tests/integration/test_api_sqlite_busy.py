"""SQLite's write lock held by another process (a CLI import, a second API, the worker):
what the API still answers. SQLite only: PostgreSQL locks rows, not the database."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from api_support import SettableClock, bearer, running_api
from sqlalchemy import text

from api.auth import VERIFIED_FOR

pytestmark = pytest.mark.integration


async def test_a_busy_database_does_not_fail_a_request_over_its_tokens_last_use(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = SettableClock()
    async with running_api(tmp_path, clock) as api:
        token = await api.user("zhao", "manager", sites=["demo"])
        clock.now += timedelta(hours=1)  # its last use is stale: the next request writes it
        # Another process holds SQLite's write lock past the API's busy timeout.
        holder = sqlite3.connect(tmp_path / "data" / "maintenance.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with caplog.at_level(logging.WARNING, logger="api.deps"):
                answers = await asyncio.gather(
                    *(api.client.get("/api/v1/me", headers=bearer(token)) for _ in range(5))
                )
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert [a.status_code for a in answers] == [200] * 5
        # One write tried for the burst, not five; it said why it gave up.
        busy = [r for r in caplog.records if "last use not recorded" in r.getMessage()]
        assert len(busy) == 1
        clock.now += VERIFIED_FOR + timedelta(minutes=1)  # once it is free, a request marks it
        assert (await api.client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        async with api.services.sessions() as session:
            last_used = await session.scalar(text("SELECT last_used_at FROM api_token"))
        assert str(last_used).startswith(clock.now.strftime("%Y-%m-%d %H:%M"))
