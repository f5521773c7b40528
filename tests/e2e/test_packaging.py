"""The wheel ``pip install .`` builds (the Docker image's install) holds the whole program.

An installed copy has no source tree to fall back on: a template, catalogue, checklist or
package left out of the wheel works in development (an editable install) and fails only
in the image. The wheel built from this tree must hold every Python module of the
packages and every other file in them, except the deployment files operators copy by
hand (compose, systemd, Grafana, the broker's and gateway's examples).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
PACKAGES = ("estatewatch", "cli", "gateway", "ingest", "maintenance", "api", "simulators",
            "infra", "demo")  # fmt: skip
# Read by people, not by the code: the deployment section of the README points at them.
DEPLOYMENT = ("infra/central/", "infra/systemd/", "infra/gateway/", "infra/mosquitto/",
              "infra/grafana/")  # fmt: skip


def test_the_wheel_holds_every_file_the_packages_have(tmp_path: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    expected = {
        name
        for name in tracked
        if name.startswith(tuple(f"{package}/" for package in PACKAGES))
        and not name.startswith(DEPLOYMENT)
    }
    # Built from a copy of the tracked files, as from the image's context: in the working
    # tree, an egg-info left by an earlier build lists files the configuration may not.
    source = tmp_path / "source"
    for name in tracked:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    assert sorted(expected - inside) == []
    assert "cli/main.py" in inside  # the estatewatch command's module
