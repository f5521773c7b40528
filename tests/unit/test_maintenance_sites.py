"""Site files: the demo compound's matches the simulator; bad files name file and field."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from estatewatch.catalogue import builtin_catalogue
from estatewatch.errors import ConfigError
from maintenance.domain.inspections import Certificate
from maintenance.sites import Elevator, load_site_file
from simulators.elevator import Elevator as SimulatedElevator
from simulators.fleet import ELEVATOR_AGES, FleetSpec, build_fleet

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
TODAY = date(2026, 11, 24)

CAR = "buildings[0] (B1).elevators[0] (elev-01)"
GOOD = """\
site: test-site
name: Test Compound
buildings:
  - name: B1
    elevators:
      - name: elev-01
        make: Otis
        model: GeN2
        install_date: 2008-09-16
        rated_load_kg: 1000
        rated_speed_mps: 1.75
        floors_served: 11
        last_safety_inspection: 2026-05-20
    chargers:
      - {name: charger-01, ports: 8}
    smoke_alarms:
      - {name: smoke-001, location: 1F lobby}
"""


def test_the_demo_site_file_describes_the_simulated_compound() -> None:
    site = load_site_file(DEMO)
    spec = FleetSpec(elevators=6, chargers=2, smoke=60)  # make demo's compound, seed 1
    fleet = build_fleet(spec, builtin_catalogue(), ports=[5020, 5021, 5022], now=0.0)

    in_file = {d.name: b.name for b in site.buildings for d in b.devices()}
    assert in_file == fleet.buildings
    assert site.site == "demo"  # the site id 'gateway config-from-inventory' drafts

    elevators = {e.name: e for b in site.buildings for e in b.elevators}
    for n, (device_id, car) in enumerate(sorted(elevators.items())):
        simulated = fleet.devices[device_id]
        assert isinstance(simulated, SimulatedElevator)
        assert car.floors_served == simulated.floors, device_id
        assert car.rated_speed_mps == simulated.rated_speed, device_id
        age = (TODAY - car.install_date).days / 365.25
        assert age == pytest.approx(ELEVATOR_AGES[n], abs=0.5), device_id
    assert sum(1 for car in elevators.values() if (TODAY - car.install_date).days > 15 * 365)
    codes = {car.registration_code for car in elevators.values()}
    assert None not in codes
    assert len(codes) == 6, "each car has its own registration code"


def test_a_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(GOOD)
    site = load_site_file(path)
    car = site.buildings[0].elevators[0]
    assert isinstance(car, Elevator)
    assert car.install_date == date(2008, 9, 16)
    assert site.timezone == "Asia/Shanghai"  # the default: these compounds are in China
    assert [d.kind for d in site.buildings[0].devices()] == [
        "elevator",
        "charger_cabinet",
        "smoke_alarm",
    ]


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        (
            "rated_load_kg: 1000",
            "rated_load_kg: heavy",
            f"{CAR}.rated_load_kg: Input should be a valid integer",
        ),
        (
            "rated_speed_mps: 1.75",
            "rated_speed_mps: 0",
            f"{CAR}.rated_speed_mps: Input should be greater than 0",
        ),
        (
            "install_date: 2008-09-16",
            "install_date: 2008-13-16",
            "not valid YAML: month must be in 1..12",  # PyYAML parses dates itself
        ),
        (
            "        floors_served: 11\n",
            "",
            f"{CAR}.floors_served: Field required",
        ),
        (
            "{name: charger-01, ports: 8}",
            "{name: charger-01, ports: 8, colour: red}",
            "buildings[0] (B1).chargers[0] (charger-01).colour: Extra inputs are not permitted",
        ),
        (
            "{name: smoke-001, location: 1F lobby}",
            "{name: smoke 001, location: 1F lobby}",
            "buildings[0] (B1).smoke_alarms[0] (smoke 001).name: String should match pattern",
        ),
        (
            "{name: smoke-001, location: 1F lobby}",
            "{name: elev-01}",
            "buildings: Value error, device elev-01 appears twice (in B1 and B1)",
        ),
        (
            "last_safety_inspection: 2026-05-20",
            "last_safety_inspection: 2001-05-20",
            f"{CAR}: Value error,"
            " last_safety_inspection 2001-05-20 is before install_date 2008-09-16",
        ),
        (
            "floors_served: 11\n",
            "floors_served: 11\n        registration_code: 3110-33\n",
            f"{CAR}.registration_code: String should match pattern",
        ),
        (
            "last_safety_inspection: 2026-05-20",
            "last_safety_inspection: 2026-05-20\n        certificate_valid_until: 2026-13-01",
            "not valid YAML: month must be in 1..12, at line 14: certificate_valid_until:"
            " 2026-13-01",
        ),
        (
            "last_safety_inspection: 2026-05-20",
            "last_safety_inspection: 2026-05-20\n        certificate_valid_until: 2026-05-19",
            f"{CAR}: Value error, certificate_valid_until 2026-05-19 is before"
            " last_safety_inspection 2026-05-20",
        ),
        (
            "last_safety_inspection: 2026-05-20",
            "certificate_number: TSX-1",
            f"{CAR}: Value error, certificate_number needs last_safety_inspection",
        ),
        ("site: test-site\n", "", "site: Field required"),
        (
            "name: Test Compound\n",
            "name: Test Compound\ntimezone: Asia/Beijing\n",
            "timezone: Value error, unknown time zone 'Asia/Beijing'",
        ),
    ],
)
def test_a_bad_file_names_the_file_and_field(
    tmp_path: Path, old: str, new: str, where: str
) -> None:
    assert old in GOOD
    path = tmp_path / "site.yaml"
    path.write_text(GOOD.replace(old, new))
    with pytest.raises(ConfigError) as raised:
        load_site_file(path)
    assert str(raised.value).startswith(f"{path}: {where}")


def test_a_car_s_certificate_runs_a_year_unless_the_file_says(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(GOOD)
    (car,) = load_site_file(path).buildings[0].elevators
    assert car.certificate() == Certificate(date(2026, 5, 20), date(2027, 5, 19))
    path.write_text(
        GOOD.replace(
            "last_safety_inspection: 2026-05-20",
            "last_safety_inspection: 2026-05-20\n        certificate_number: TSX-2026-0117\n"
            "        certificate_valid_until: 2027-05-31",
        )
    )
    (car,) = load_site_file(path).buildings[0].elevators
    assert car.certificate() == Certificate(date(2026, 5, 20), date(2027, 5, 31), "TSX-2026-0117")


def test_a_file_that_is_not_yaml_says_where(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("site: [demo\n")
    with pytest.raises(ConfigError, match=r"site\.yaml: not valid YAML at line 2"):
        load_site_file(path)
