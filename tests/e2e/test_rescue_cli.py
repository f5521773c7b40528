"""``estatewatch maintenance rescue ...`` driven as the duty room would, in a subprocess."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_maintenance_cli import DEMO, estatewatch

pytestmark = pytest.mark.e2e


def test_a_rescue_reported_and_ended_from_the_shell(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    assert estatewatch("maintenance", "db", "upgrade", *data, cwd=tmp_path).returncode == 0
    assert estatewatch("maintenance", "import-site", str(DEMO), *data, cwd=tmp_path).returncode == 0

    rescue = ("maintenance", "rescue")
    done = estatewatch(*rescue, "report", "--car", "elev-02", *data, cwd=tmp_path)
    assert done.returncode == 2
    assert "--car needs --site" in done.stderr

    done = estatewatch(*rescue, "report", "--site", "demo", "--car", "elev-02", *data, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = re.match(r"(WO-\d{4}-\d{6}) new P1 demo/elevator/elev-02\n", done.stdout)
    assert found, done.stdout
    order = found.group(1)
    assert "stage reported; arrive within 30 min" in done.stdout

    done = estatewatch(
        *rescue,
        "arrive",
        order,
        "--lat",
        "31.2",
        "--lon",
        "121.5",
        "--role",
        "technician",
        *data,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "stage arrived" in done.stdout
    done = estatewatch(*rescue, "release", order, "--note", "one out", *data, cwd=tmp_path)
    assert "stage released" in done.stdout

    done = estatewatch(*rescue, "false-alarm", order, "--reason", "x", *data, cwd=tmp_path)
    assert done.returncode != 0
    assert "cannot false_alarm while released" in done.stderr

    done = estatewatch(*rescue, "show", order, *data, cwd=tmp_path)
    assert done.returncode == 0
    assert re.search(r"  arrived +\d{4}-\d\d-\d\d", done.stdout)
