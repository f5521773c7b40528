"""``estatewatch maintenance ...`` driven as a user would, in a subprocess."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.local import MosquittoInstance
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
    assert (done.returncode, done.stdout) == (0, "site demo: 73 created, 0 updated, 0 unchanged\n")

    done = estatewatch("maintenance", "audit", "verify", *data, cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith("audit trail intact: 73 entries, head ")

    # Someone with the file and a SQL shell rewrites history.
    with sqlite3.connect(tmp_path / "data" / "maintenance.db") as db:
        db.execute("DROP TRIGGER audit_log_no_update")
        db.execute("UPDATE audit_log SET actor = 'nobody' WHERE id = 40")
    db.close()
    done = estatewatch("maintenance", "audit", "verify", *data, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.startswith("audit trail broken at row id 40 (entry 40 of those checked)")


def test_alembic_speaks_only_when_asked_for_debug_logs(tmp_path: Path) -> None:
    """A migration is quiet (above: nothing on stderr); --log-level DEBUG, for an operator
    looking into one, shows what Alembic runs."""
    done = estatewatch(
        "--log-level", "DEBUG", "maintenance", "db", "upgrade", "--data-dir", str(tmp_path),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "alembic.runtime.migration: Running upgrade" in done.stderr


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


def test_record_and_list_inspections_and_bad_dates_name_the_option(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    assert estatewatch("maintenance", "db", "upgrade", *data, cwd=tmp_path).returncode == 0
    assert estatewatch("maintenance", "import-site", str(DEMO), *data, cwd=tmp_path).returncode == 0

    done = estatewatch("maintenance", "inspection", "list", "--site", "demo", *data, cwd=tmp_path)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert len(lines) == 6
    assert "demo B3 elev-06  valid until 2026-10-27: expired" in lines

    record = ["maintenance", "inspection", "record", "demo", "elev-06", *data]
    done = estatewatch(*record, "--inspected-on", "2026-13-01", cwd=tmp_path)
    assert done.returncode == 2
    assert "argument --inspected-on: '2026-13-01' is not a date like 2026-12-05" in done.stderr
    done = estatewatch(*record, "--inspected-on", "2099-01-01", cwd=tmp_path)
    assert done.returncode == 2
    assert "inspected_on 2099-01-01 is in the future" in done.stderr
    done = estatewatch(
        *record,
        "--inspected-on",
        "2026-11-30",
        "--certificate",
        "TSX-2026-1130",
        "--actor",
        "li",
        cwd=tmp_path,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("demo B3 elev-06  valid until 2027-11-29 (TSX-2026-1130): valid")
    with sqlite3.connect(tmp_path / "data" / "maintenance.db") as db:
        actor = db.execute(
            "SELECT actor FROM audit_log WHERE action = 'inspection.recorded'"
        ).fetchone()
    db.close()
    assert actor == ("admin:li",)


def test_the_worker_refuses_a_database_never_migrated_in_one_line(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    done = estatewatch("maintenance", "run", "--mqtt-port", "1", *data, cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert (done.returncode, len(lines)) == (2, 1), done.stderr
    assert "is at revision (none)" in lines[0]
    assert lines[0].endswith("run 'estatewatch maintenance db upgrade'")


def test_the_worker_started_with_migrate_migrates_and_runs(
    tmp_path: Path, mosquitto: MosquittoInstance
) -> None:
    data = tmp_path / "data"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "maintenance",
            "run",
            "--migrate",
            "--mqtt-port",
            str(mosquitto.port),
            "--data-dir",
            str(data),
            "--client-id",
            f"maint-{tmp_path.name[-8:]}",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def revision() -> str | None:
        try:
            with sqlite3.connect(data / "maintenance.db") as db:
                row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            return None  # not created yet
        return None if row is None else str(row[0])

    try:
        deadline = time.monotonic() + 30
        while revision() != head_revision():
            assert worker.poll() is None, "the worker exited instead of migrating"
            assert time.monotonic() < deadline, "the worker did not migrate in 30 s"
            time.sleep(0.2)
        assert worker.poll() is None  # and it keeps running
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output


def test_plans_limits_schedule_list_and_show(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    assert estatewatch("maintenance", "db", "upgrade", *data, cwd=tmp_path).returncode == 0
    assert estatewatch("maintenance", "import-site", str(DEMO), *data, cwd=tmp_path).returncode == 0

    done = estatewatch(
        "maintenance", "plans", "limits", "demo", "--min", "30", "--max", "15", *data, cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr == "estatewatch: error: --min/--max: min_days 30 is above max_days 15\n"
    done = estatewatch(
        "maintenance", "plans", "limits", "demo", "--min", "15", "--max", "30", *data, cwd=tmp_path
    )
    assert (done.returncode, done.stdout) == (0, "site demo: 15 to 30 days; 0 plans\n")

    bad = tmp_path / "extra.yaml"
    bad.write_text(
        "items:\n  - {name: S01, level: monthly, area: car, title: t, title_zh: t,"
        " requirement: r}\n"
    )
    done = estatewatch(
        "maintenance", "plans", "schedule", "--checklist-extra", str(bad), *data, cwd=tmp_path
    )
    assert done.returncode == 2
    assert f"{bad}: items[0] (S01).level: Input should be" in done.stderr

    done = estatewatch("maintenance", "plans", "schedule", *data, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("6 plans created, 6 visits opened (WO-")
    assert done.stderr == ""

    done = estatewatch("maintenance", "plans", "list", "--site", "demo", *data, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["car", "every", "last", "visit", "next", "due", "level", "visit"]
    first = lines[1].split()
    assert first[:2] == ["demo/elevator/elev-01", "15d"]
    assert first[4] == "yearly"
    assert "demo/elevator/elev-01: new plan: the statutory 15 days" in done.stdout

    done = estatewatch("maintenance", "plans", "show", first[5], *data, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"visit {first[5]}: demo/elevator/elev-01, yearly, due ")
    assert "HM29  open           Door lock engagement depth" in done.stdout
    assert len([line for line in done.stdout.splitlines() if " open " in line]) == 76
