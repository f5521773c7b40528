"""``estatewatch maintenance ...`` driven as a user would, in a subprocess."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from maintenance.db.migrations import head_revision

pytestmark = pytest.mark.e2e

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"


def estatewatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_upgrade_import_and_verify_then_catch_a_forgery(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]

    done = estatewatch("maintenance", "audit", "verify", *data, cwd=tmp_path)
    assert done.returncode == 2
    assert "run 'estatewatch maintenance db upgrade'" in done.stderr

    done = estatewatch("maintenance", "db", "upgrade", *data, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (
        0,
        f"maintenance database at revision {head_revision()}\n",
    )
    assert done.stderr == ""

    done = estatewatch(
        "maintenance", "import-site", str(DEMO), "--actor", "ops:li", *data, cwd=tmp_path
    )
    assert (done.returncode, done.stdout) == (0, "site demo: 72 created, 0 updated, 0 unchanged\n")

    done = estatewatch("maintenance", "audit", "verify", *data, cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith("audit trail intact: 72 entries, head ")

    # Someone with the file and a SQL shell rewrites history.
    with sqlite3.connect(tmp_path / "data" / "maintenance.db") as db:
        db.execute("DROP TRIGGER audit_log_no_update")
        db.execute("UPDATE audit_log SET actor = 'nobody' WHERE id = 40")
    db.close()
    done = estatewatch("maintenance", "audit", "verify", *data, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.startswith("audit trail broken at row id 40 (entry 40 of those checked)")


def test_a_bad_site_file_is_refused_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "site.yaml"
    bad.write_text(DEMO.read_text().replace("rated_load_kg: 800", "rated_load_kg: -800"))
    done = estatewatch(
        "maintenance", "import-site", str(bad), "--db", "sqlite+aiosqlite:///x.db", cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"estatewatch: error: {bad}: buildings[2] (B3).elevators[1] (elev-06).rated_load_kg:"
        " Input should be greater than 0\n"
    )
    assert not (tmp_path / "x.db").exists()  # refused before touching the database
