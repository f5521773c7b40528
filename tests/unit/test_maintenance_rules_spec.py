"""Rule files: the shipped set loads; a bad file fails with a message naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from estatewatch.errors import ConfigError
from maintenance.config_files import DEFAULT_RULES, load_rules

GOOD = {
    "name": "port_hot",
    "device_type": "charger",
    "each": {"group": "port", "count": 8},
    "when": {"field": "port{n}.temperature", "ge": 80},
    "for": "30s",
    "hysteresis": 5,
    "severity": "major",
    "priority": "P2",
    "fault_kind": "charger_overheat",
    "detail": ["port{n}.temperature"],
    "message": "port {port} at {temperature} degC",
}


def _load(tmp_path: Path, *rules: dict[str, object]) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": list(rules)}), encoding="utf-8")
    return path


def test_the_shipped_rules_cover_the_domain_starting_set() -> None:
    names = {r.name for r in load_rules(DEFAULT_RULES)}
    assert {
        "entrapment",
        "smoke_fire",
        "charger_fire",
        "level5_fault",
        "charger_overheat",
        "charger_overload",
        "door_degradation",
        "levelling_drift",
        "heatsink_hot",
        "silent_lift",
        "ebike_in_elevator",
        "elevator_offline",
        "gateway_offline",
        "smoke_battery_low",
        "smoke_removed",
        "charger_long_session",
    } <= names


def test_a_good_rule_loads(tmp_path: Path) -> None:
    (rule,) = load_rules(_load(tmp_path, GOOD))
    assert rule.name == "port_hot"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"when": {"field": "port{n}.temperature", "gte": 80}}, "rules[0] (port_hot): when.gte:"),
        ({"when": {"field": "x", "gt": 1, "lt": 3}}, "when: field x: give exactly one operator"),
        ({"when": {"all": [{"field": "x"}]}}, "when.all[0]: field x: give exactly one operator"),
        ({"when": {"field": "x", "gt": "hot"}}, "when.gt:"),
        ({"for": "ten seconds"}, "for: Value error, 'ten seconds' is not a duration"),
        ({"priority": None}, "rules[0] (port_hot): priority: required"),
        ({"severity": "fatal"}, "severity: Input should be"),
        ({"each": None}, "each: fields port{n}.temperature use {n}"),
        ({"hysteresis": 5, "when": {"field": "port{n}.temperature", "in": [80]}}, "hysteresis:"),
        ({"message": "port {port} at {celsius}"}, "message: names celsius"),
        ({"detector": "crystal_ball"}, "rules[0] (port_hot).detector: unknown detector"),
        ({"name": "Port Hot"}, "name: String should match pattern"),
    ],
)
def test_a_bad_rule_names_the_file_rule_and_field(
    tmp_path: Path, change: dict[str, object], expected: str
) -> None:
    path = _load(tmp_path, GOOD | change)
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    assert str(err.value).startswith(f"{path}: ")
    assert expected in str(err.value)


def test_a_rule_defined_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"rules\[1\] \(port_hot\)\.name: .* defined twice"):
        load_rules(_load(tmp_path, GOOD, GOOD))


def test_detector_parameters_are_checked(tmp_path: Path) -> None:
    door = {
        "name": "door",
        "device_type": "elevator",
        "detector": "door_zscore",
        "z": 3,
        "clear_z": 3.5,
        "severity": "minor",
        "priority": "P3",
        "fault_kind": "door",
        "message": "door at {landing}",
    }
    with pytest.raises(ConfigError, match=r"rules\[0\] \(door\): clear_z: must be below z"):
        load_rules(_load(tmp_path, door))
