"""``estatewatch simulate`` and ``estatewatch fault`` driven as a user would, in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymodbus.client import ModbusTcpClient

from infra.local import MosquittoInstance

pytestmark = pytest.mark.e2e

ESTATEWATCH = [sys.executable, "-m", "cli"]


def estatewatch(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ESTATEWATCH, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            _out, err = process.communicate()
            pytest.fail(f"simulator exited early ({process.returncode}): {err}")
        if time.monotonic() > deadline:
            pytest.fail(f"{path} did not appear")
        time.sleep(0.1)


def test_simulate_runs_is_polled_and_takes_faults(
    tmp_path: Path, mosquitto: MosquittoInstance
) -> None:
    inventory = tmp_path / "inventory.json"
    process = subprocess.Popen(
        [
            *ESTATEWATCH,
            "simulate",
            "--elevators", "3",
            "--chargers", "1",
            "--smoke", "4",
            "--mqtt", f"127.0.0.1:{mosquitto.port}",
            "--base-port", "0",
            "--control-port", "0",
            "--inventory", str(inventory),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        wait_for(inventory, process)
        data = json.loads(inventory.read_text())
        devices = {row["device_id"]: row for row in data["devices"]}
        assert set(devices) == {
            "elev-01", "elev-02", "elev-03", "charger-01",
            "smoke-001", "smoke-002", "smoke-003", "smoke-004",
        }  # fmt: skip
        car = devices["elev-02"]
        with ModbusTcpClient(car["host"], port=car["port"], timeout=2) as client:
            reply = client.read_holding_registers(0x1018, count=1, device_id=car["unit"])
            assert not reply.isError()
            assert reply.registers[0] >= 1
        control = f"127.0.0.1:{data['control']['port']}"
        injected = estatewatch(
            "fault", "--control", control, "inject", "elev-02", "safety_circuit", cwd=tmp_path
        )
        assert injected.returncode == 0, injected.stderr
        time.sleep(0.5)
        with ModbusTcpClient(car["host"], port=car["port"], timeout=2) as client:
            reply = client.read_holding_registers(0x8000, count=1, device_id=car["unit"])
            assert reply.registers == [41]
        listed = estatewatch("fault", "--control", control, "list", cwd=tmp_path)
        assert "elev-02" in listed.stdout
        assert "safety_circuit" in listed.stdout
        assert "overtravel_top" in listed.stdout  # GB/T 24476's faults are there too
        overtravel = estatewatch(
            "fault", "--control", control, "inject", "elev-01", "overtravel_top", cwd=tmp_path
        )
        assert overtravel.returncode == 0, overtravel.stderr
        time.sleep(0.5)
        first = devices["elev-01"]
        with ModbusTcpClient(first["host"], port=first["port"], timeout=2) as client:
            reply = client.read_holding_registers(0x2008, count=1, device_id=first["unit"])
            assert reply.registers[0] & 1 << 4, "the box's upper final limit switch is open"
        wrong = estatewatch("fault", "--control", control, "inject", "elev-09", "x", cwd=tmp_path)
        assert wrong.returncode == 2
        assert "no simulated device 'elev-09'" in wrong.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "elev-01@1" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--elevators", "-1"], "--elevators must not be negative"),
        (["--elevators", "300", "--cars-per-port", "0"], "--cars-per-port must be between"),
        ([], "nothing to simulate"),
        (["--elevators", "1", "--scenario", "no-such"], "no-such: no such scenario file"),
        (["--elevators", "1", "--duration", "soon"], "is not a duration"),
    ],
)
def test_bad_arguments_fail_clearly_and_start_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = estatewatch("simulate", "--base-port", "0", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var").exists(), "nothing was started"


def test_a_bad_scenario_names_the_file_and_field(tmp_path: Path) -> None:
    scenario = tmp_path / "broken.yaml"
    scenario.write_text(
        "name: broken\nevents:\n  - {at: 5s, device: elev-01, inject: entrapment}\n"
        "  - {at: 10s, device: elev-07, inject: entrapment}\n"
    )
    result = estatewatch(
        "simulate", "--elevators", "2", "--base-port", "0", "--scenario", str(scenario),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"{scenario}: events[1].device: no simulated device matches 'elev-07'" in result.stderr
    bad_field = tmp_path / "bad-field.yaml"
    bad_field.write_text("name: x\nevents:\n  - {at: 5 parsecs, device: elev-01, clear: ebike}\n")
    result = estatewatch(
        "simulate", "--elevators", "1", "--base-port", "0", "--scenario", str(bad_field),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"{bad_field}: events[0].at:" in result.stderr


def test_a_scenario_runs_to_its_end_and_exits(tmp_path: Path) -> None:
    scenario = tmp_path / "short.yaml"
    scenario.write_text(
        "name: short\ntime_factor: 3600\nduration: 2h\nevents:\n"
        "  - {at: 30m, device: elev-01, inject: door_wear, params: {close_s_per_day: 1}}\n"
    )
    result = estatewatch(
        "simulate", "--elevators", "1", "--base-port", "0", "--control-port", "0",
        "--scenario", str(scenario), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "scenario: inject door_wear on elev-01" in result.stderr
    assert "scenario finished" in result.stderr


def test_help_is_there_for_a_new_user() -> None:
    result = subprocess.run(
        [*ESTATEWATCH, "simulate", "--help"], capture_output=True, text=True, env=os.environ
    )
    assert result.returncode == 0
    assert "--rtu-elevators" in result.stdout
    assert "examples:" in result.stdout
