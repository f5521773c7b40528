"""``estatewatch maintenance quarantine ...`` as an operator runs it: list what the
worker heard from unknown senders, block one, register a gateway and a device."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_maintenance_cli import DEMO, estatewatch

from maintenance.db.engine import make_sessionmaker, open_engine
from maintenance.db.read.sites import find_car
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.quarantine import GATEWAY, Sighting
from maintenance.services.quarantine import note_sightings

pytestmark = pytest.mark.e2e

NOW = datetime.now(UTC).replace(microsecond=0)
LIFT = """\
elevator:
  name: elev-09
  make: Hitachi
  model: UAX
  install_date: 2019-05-01
  rated_load_kg: 1000
  rated_speed_mps: 1.75
  floors_served: 11
"""


async def _heard(database: Path) -> None:
    """What the worker notes when three unknown senders talk to it."""
    async with open_engine(f"sqlite+aiosqlite:///{database}") as engine:
        sightings = [
            Sighting("demo", kind, device, "gw-demo", at, at, 3, f"telemetry {device}")
            for kind, device, at in (
                ("elevator", "ghost-lift-99", NOW - timedelta(minutes=3)),
                (GATEWAY, "gw-annex", NOW - timedelta(minutes=2)),
                ("elevator", "elev-09", NOW - timedelta(minutes=1)),
            )
        ]
        await note_sightings(SqlUnitOfWork(make_sessionmaker(engine)), sightings)


async def _registered_car(database: Path) -> str | None:
    async with (
        open_engine(f"sqlite+aiosqlite:///{database}") as engine,
        make_sessionmaker(engine)() as session,
    ):
        car = await find_car(session, site="demo", device_id="elev-09")
    return None if car is None else car.building


def test_an_operator_blocks_and_registers_unknown_senders(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    quarantine = ("maintenance", "quarantine")
    assert estatewatch("maintenance", "db", "upgrade", *data, cwd=tmp_path).returncode == 0
    assert estatewatch("maintenance", "import-site", str(DEMO), *data, cwd=tmp_path).returncode == 0
    empty = estatewatch(*quarantine, "list", *data, cwd=tmp_path)
    assert "the quarantine is empty" in empty.stdout
    asyncio.run(_heard(tmp_path / "data" / "maintenance.db"))

    listed = estatewatch(*quarantine, "list", "--site", "demo", *data, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = [line.split() for line in listed.stdout.splitlines() if not line.startswith(" ")]
    # The most recently heard first; each with its number for block and register.
    assert [(line[1], line[2]) for line in lines] == [
        ("held", "demo/elev-09"),
        ("held", "demo/gw-annex"),
        ("held", "demo/ghost-lift-99"),
    ]
    number = {line[2]: line[0] for line in lines}

    blocked = estatewatch(*quarantine, "block", number["demo/ghost-lift-99"], *data, cwd=tmp_path)
    assert blocked.returncode == 0, blocked.stderr
    assert "blocked" in blocked.stdout
    assert "by cli:" in blocked.stdout
    gateway = estatewatch(*quarantine, "register", number["demo/gw-annex"], *data, cwd=tmp_path)
    assert gateway.returncode == 0, gateway.stderr
    assert "registered" in gateway.stdout

    # A device needs its facts; bad ones are refused with the file and the field.
    lift = tmp_path / "lift.yaml"
    lift.write_text(LIFT.replace("rated_load_kg: 1000", "rated_load_kg: -5"), encoding="utf-8")
    car = ("register", number["demo/elev-09"])
    refused = estatewatch(
        *quarantine, *car, "--building", "B2", "--device", str(lift), *data, cwd=tmp_path
    )
    assert refused.returncode == 2
    assert "lift.yaml" in refused.stderr
    assert "rated_load_kg" in refused.stderr
    bare = estatewatch(*quarantine, *car, *data, cwd=tmp_path)
    assert bare.returncode == 2
    assert "needs its building and facts" in bare.stderr
    assert asyncio.run(_registered_car(tmp_path / "data" / "maintenance.db")) is None

    lift.write_text(LIFT, encoding="utf-8")
    done = estatewatch(
        *quarantine, *car, "--building", "B2", "--device", str(lift), *data, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert asyncio.run(_registered_car(tmp_path / "data" / "maintenance.db")) == "B2"
    held = estatewatch(*quarantine, "list", *data, cwd=tmp_path)
    assert [line.split()[1] for line in held.stdout.splitlines() if not line.startswith(" ")] == [
        "blocked"
    ]
    every = estatewatch(*quarantine, "list", "--all", *data, cwd=tmp_path)
    assert every.stdout.count("registered") == 2
