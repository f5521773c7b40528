"""The report filter: always, on change with deadbands, and the forced full report."""

from __future__ import annotations

import math

from estatewatch.catalogue import builtin_catalogue
from gateway.config import ReportConfig
from gateway.report import ReportFilter

ELEVATOR = builtin_catalogue()["elevator-nice3000"]
CHARGER = builtin_catalogue()["charger-8port"]


def on_change(**deadband: float) -> ReportConfig:
    return ReportConfig(mode="on_change", deadband=deadband, full_every=60.0)


def test_always_reports_every_value_of_every_poll() -> None:
    report = ReportFilter(ReportConfig(), ELEVATOR.fields)
    poll = {"speed": 0.0, "floor": 3}
    assert report.select("fast", 0.0, poll) == poll
    assert report.select("fast", 1.0, poll) == poll


def test_on_change_starts_full_then_sends_only_changes() -> None:
    report = ReportFilter(on_change(), ELEVATOR.fields)
    assert report.select("fast", 0.0, {"speed": 0.0, "floor": 3}) == {"speed": 0.0, "floor": 3}
    assert report.select("fast", 1.0, {"speed": 0.0, "floor": 3}) == {}
    assert report.select("fast", 2.0, {"speed": 0.5, "floor": 3}) == {"speed": 0.5}


def test_deadband_by_field_name_applies_to_every_port() -> None:
    report = ReportFilter(on_change(power=5.0), CHARGER.fields)
    report.select("fast", 0.0, {"port1.power": 100.0, "port8.power": 100.0})
    assert report.select("fast", 1.0, {"port1.power": 104.9, "port8.power": 105.1}) == {
        "port8.power": 105.1
    }


def test_deadband_by_key_beats_the_name() -> None:
    report = ReportFilter(on_change(power=5.0, **{"port2.power": 50.0}), CHARGER.fields)
    report.select("fast", 0.0, {"port1.power": 0.0, "port2.power": 0.0})
    assert report.select("fast", 1.0, {"port1.power": 20.0, "port2.power": 20.0}) == {
        "port1.power": 20.0
    }


def test_deadband_is_measured_from_the_last_report_so_drift_adds_up() -> None:
    report = ReportFilter(on_change(dc_bus_voltage=2.0), ELEVATOR.fields)
    report.select("fast", 0.0, {"dc_bus_voltage": 540.0})
    assert report.select("fast", 1.0, {"dc_bus_voltage": 541.5}) == {}
    assert report.select("fast", 2.0, {"dc_bus_voltage": 542.5}) == {"dc_bus_voltage": 542.5}
    assert report.select("fast", 3.0, {"dc_bus_voltage": 541.0}) == {}


def test_booleans_and_enums_report_any_change_despite_a_deadband() -> None:
    report = ReportFilter(on_change(car_state=10.0, in_door_zone=10.0), ELEVATOR.fields)
    report.select("fast", 0.0, {"car_state": 4, "in_door_zone": True})
    assert report.select("fast", 1.0, {"car_state": 5, "in_door_zone": False}) == {
        "car_state": 5,
        "in_door_zone": False,
    }


def test_text_reports_any_change() -> None:
    report = ReportFilter(on_change(), CHARGER.fields)
    report.select("slow", 0.0, {"serial_number": "CAB-0001"})
    assert report.select("slow", 30.0, {"serial_number": "CAB-0001"}) == {}
    assert report.select("slow", 31.0, {"serial_number": "CAB-0002"}) == {
        "serial_number": "CAB-0002"
    }


def test_full_report_every_full_every_seconds_per_group() -> None:
    report = ReportFilter(on_change(), ELEVATOR.fields)
    fast, slow = {"speed": 0.0, "floor": 3}, {"heatsink_temperature": 40}
    report.select("fast", 0.0, fast)
    report.select("slow", 30.0, slow)
    assert report.select("fast", 59.9, fast) == {}
    assert report.select("fast", 60.0, fast) == fast
    assert report.select("fast", 61.0, fast) == {}
    assert report.select("slow", 60.0, slow) == {}  # its own clock: full again at 90
    assert report.select("slow", 90.0, slow) == slow


def test_a_field_seen_for_the_first_time_is_reported() -> None:
    report = ReportFilter(on_change(), ELEVATOR.fields)
    report.select("fast", 0.0, {"speed": 0.0})
    assert report.select("fast", 1.0, {"speed": 0.0, "stopped_outside_zone_s": 0.0}) == {
        "stopped_outside_zone_s": 0.0
    }


def test_a_derived_field_can_have_a_deadband() -> None:
    report = ReportFilter(on_change(stopped_outside_zone_s=5.0), ELEVATOR.fields)
    report.select("fast", 0.0, {"stopped_outside_zone_s": 0.0})
    assert report.select("fast", 1.0, {"stopped_outside_zone_s": 4.0}) == {}
    assert report.select("fast", 2.0, {"stopped_outside_zone_s": 6.0}) == {
        "stopped_outside_zone_s": 6.0
    }


def test_nan_is_reported_once_when_it_appears_and_when_it_goes() -> None:
    report = ReportFilter(on_change(), CHARGER.fields)
    report.select("fast", 0.0, {"port1.energy": 1.0})
    changed = report.select("fast", 1.0, {"port1.energy": math.nan})
    assert isinstance(changed["port1.energy"], float)
    assert math.isnan(changed["port1.energy"])
    assert report.select("fast", 2.0, {"port1.energy": math.nan}) == {}
    assert report.select("fast", 3.0, {"port1.energy": 1.0}) == {"port1.energy": 1.0}
