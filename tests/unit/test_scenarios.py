"""The built-in scenarios play on the demo compound: every device and fault they name
exists there (what 'estatewatch simulate --scenario NAME' checks before it starts)."""

from __future__ import annotations

import pytest

from estatewatch.catalogue import builtin_catalogue
from simulators.fleet import FleetSpec, build_fleet
from simulators.scenario import BUILTIN_DIR, load_scenario, resolve

BUILTIN = sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


@pytest.mark.parametrize("name", BUILTIN)
def test_each_builtin_scenario_resolves_on_the_demo_compound(name: str) -> None:
    spec = FleetSpec(elevators=6, chargers=2, smoke=60)  # 'make demo's compound
    fleet = build_fleet(spec, builtin_catalogue(), ports=[5020, 5021, 5022], now=0.0)
    scenario = load_scenario(name)
    planned = resolve(scenario, {d: list(dev.faults) for d, dev in fleet.devices.items()}, name)
    assert len(planned) >= len(scenario.events)
    assert [at for at, _ in planned] == sorted(at for at, _ in planned)


def test_the_regulator_drill_injects_and_clears_each_fault_it_plays() -> None:
    scenario = load_scenario("regulator-drill")
    injected = {(e.device, e.fault) for e in scenario.events if e.inject}
    cleared = {(e.device, e.fault) for e in scenario.events if not e.inject}
    assert injected == cleared, "the compound is back in normal service at the end"
    assert scenario.duration is not None
    assert max(e.at for e in scenario.events) < scenario.duration
