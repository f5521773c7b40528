"""The duty board's elevator tile state: what needs people first, then the telemetry."""

from __future__ import annotations

from api.web.routes.board import car_state


def test_offline_fault_and_maintenance_outrank_what_the_telemetry_says() -> None:
    assert car_state(offline=True, fault=True, maintenance=True, speed=1.0) == "offline"
    assert car_state(offline=False, fault=True, maintenance=True, speed=1.0) == "fault"
    assert car_state(offline=False, fault=False, maintenance=True, speed=1.0) == "maintenance"


def test_a_moving_car_runs_a_standing_one_idles_and_no_telemetry_is_unknown() -> None:
    assert car_state(offline=False, fault=False, maintenance=False, speed=1.6) == "running"
    assert car_state(offline=False, fault=False, maintenance=False, speed=0.0) == "idle"
    assert car_state(offline=False, fault=False, maintenance=False, speed=None) == "unknown"
