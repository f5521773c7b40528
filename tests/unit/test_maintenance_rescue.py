"""Rescue orders: the timeline as data, its clocks and escalation chain, and the services
that open one (a rule's entrapment, a resident's or the duty room's report), under a fake
clock and the in-memory unit of work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from maintenance_fakes import FakeClock, FakeUnitOfWork

from estatewatch.errors import ConfigError
from maintenance import services
from maintenance.config_files import DEFAULT_RULES, load_rules
from maintenance.domain import commands as cmd
from maintenance.domain.actors import Actor
from maintenance.domain.errors import IllegalTransition, InvalidRequest
from maintenance.domain.observations import TelemetryReading
from maintenance.domain.rescue import RESCUE_TRANSITIONS, Rescue, Stage, Step
from maintenance.domain.rules import RuleEngine
from maintenance.domain.signals import DeviceRef, Signal
from maintenance.domain.sla import SlaPolicy
from maintenance.domain.staff import Worker
from maintenance.domain.workorders import Action, Status, WorkOrder
from maintenance.sites import RescuePolicy, derived_rescue_code, load_site_file

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
CAR = DeviceRef("north", "elevator", "elev-01")
POLICY = SlaPolicy()
MANAGER = Actor("mgr-1", "manager")
TECH = Actor("tech-1", "technician")
RESIDENT = Actor("res-1", "resident")
BACKUP = RescuePolicy(backup_maintainer="Backup Lift Rescue Co.")

TRAPPED = Signal(
    kind="raised",
    rule="entrapment",
    device=CAR,
    at=T0,
    severity="critical",
    priority="P1",
    fault_kind="entrapment",
    message="entrapment: car stopped near floor 7 outside the door zone for 31 s",
    building="B1",
)

St = Stage
# Written out from the module docstring, independently of RESCUE_TRANSITIONS.
EXPECTED = {
    (St.REPORTED, Step.RESPOND): St.RESPONDED,
    (St.REPORTED, Step.ARRIVE): St.ARRIVED,
    (St.RESPONDED, Step.ARRIVE): St.ARRIVED,
    (St.RESPONDED, Step.RELEASE): St.RELEASED,
    (St.ARRIVED, Step.RELEASE): St.RELEASED,
    (St.RELEASED, Step.RETURN_TO_SERVICE): St.BACK_IN_SERVICE,
    (St.REPORTED, Step.FALSE_ALARM): St.FALSE_ALARM,
    (St.RESPONDED, Step.FALSE_ALARM): St.FALSE_ALARM,
    (St.ARRIVED, Step.FALSE_ALARM): St.FALSE_ALARM,
}


def test_the_timeline_as_data_matches_the_specification() -> None:
    pairs = {
        (s, step): t for step, sources in RESCUE_TRANSITIONS.items() for s, t in sources.items()
    }
    assert pairs == EXPECTED


@pytest.mark.parametrize("stage", list(Stage))
@pytest.mark.parametrize("step", list(Step))
def test_every_stage_and_step(stage: Stage, step: Step) -> None:
    rescue = Rescue(targets=RescuePolicy().targets(None), reported_at=T0, stage=stage)
    target = EXPECTED.get((stage, step))
    if target is None:
        with pytest.raises(IllegalTransition, match=f"cannot {step} while {stage}"):
            rescue.step("WO-2026-000001", step, T0)
        assert rescue.stage is stage
    else:
        rescue.step("WO-2026-000001", step, T0 + timedelta(minutes=5), reason="test")
        assert rescue.stage is target


def test_the_site_policy_sets_the_targets_and_the_chain() -> None:
    city = RescuePolicy().targets("Harmony Lift")
    assert (city.respond_within, city.arrive_within) == (
        timedelta(minutes=10),
        timedelta(minutes=30),
    )
    assert [(s.level, s.notify, s.party) for s in city.chain] == [(1, "emergency_services", "119")]
    elsewhere = RescuePolicy.model_validate(
        {"area": "elsewhere", "backup_maintainer": "B Co.", "emergency_after": "20m"}
    ).targets(None)
    assert elsewhere.arrive_within == timedelta(hours=1)
    assert [(s.notify, s.after) for s in elsewhere.chain] == [
        ("backup_maintainer", timedelta(0)),
        ("emergency_services", timedelta(minutes=20)),
    ]
    assert RescuePolicy(arrive_within=timedelta(minutes=45)).targets(None).arrive_within == (
        timedelta(minutes=45)
    )
    stored = BACKUP.stored()
    assert stored["respond_within"] == 10
    assert RescuePolicy.model_validate(stored) == BACKUP


def test_rescue_codes_are_short_stable_and_unambiguous() -> None:
    code = derived_rescue_code("north", "elev-01")
    assert code == derived_rescue_code("north", "elev-01")
    assert code != derived_rescue_code("south", "elev-01")
    assert len(code) == 6
    assert not set(code) & set("ILOU")


def test_a_bad_rescue_block_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(
        "site: north\nname: North\nrescue: {area: downtown, arrive_within: 0}\n"
        "buildings: [{name: B1}]\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_site_file(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: rescue.area:")
    assert "rescue.arrive_within" in message


def rescue_order(*, rescue: bool = True) -> WorkOrder:
    """A rescue order with the backup policy's targets, or (``rescue=False``) a plain one."""
    return WorkOrder.open(
        id="WO-2026-000001",
        title="elev-01: passengers trapped",
        asset=str(CAR),
        site="north",
        category="rescue" if rescue else "elevator",
        fault_kind="entrapment" if rescue else "door",
        priority="P1",
        source="staff",
        now=T0,
        created_by=MANAGER,
        rescue=BACKUP.targets("Harmony Lift") if rescue else None,
    )


def test_a_plain_order_refuses_the_rescue_actions_but_takes_an_arrival() -> None:
    order = rescue_order(rescue=False)
    assert Action.RELEASE not in order.allowed_actions
    assert Action.ARRIVE in order.allowed_actions
    with pytest.raises(InvalidRequest, match="not a rescue order: cannot release"):
        order.release(TECH, T0)
    order.arrive(TECH, T0 + timedelta(minutes=3))
    assert [a.at for a in order.arrivals] == [T0 + timedelta(minutes=3)]
    with pytest.raises(InvalidRequest, match="both latitude and longitude"):
        order.arrive(TECH, T0, latitude=31.2)
    with pytest.raises(InvalidRequest, match="not a latitude"):
        order.arrive(TECH, T0, latitude=131.2, longitude=10.0)


def test_the_timeline_rides_on_the_order_and_refuses_steps_out_of_turn() -> None:
    order = rescue_order()
    order.assign(MANAGER, T0, assignee=TECH.user_id)
    with pytest.raises(IllegalTransition, match="cannot release while reported"):
        order.release(TECH, T0)
    order.acknowledge(TECH, T0 + timedelta(minutes=2))
    order.arrive(TECH, T0 + timedelta(minutes=14), latitude=31.23, longitude=121.47)
    assert Action.RETURN_TO_SERVICE not in order.allowed_actions
    order.release(TECH, T0 + timedelta(minutes=20), note="two passengers out, unhurt")
    order.return_to_service(TECH, T0 + timedelta(minutes=50), approval_threshold=Decimal(5000))
    rescue = order.rescue
    assert rescue is not None
    assert rescue.stage is Stage.BACK_IN_SERVICE
    assert rescue.arrival_time == timedelta(minutes=14)
    assert rescue.rescue_duration == timedelta(minutes=20)
    assert order.status is Status.RESOLVED
    assert order.arrivals[0].latitude == 31.23


# -- services: opening, escalating, ending -----------------------------------------------


@pytest.fixture
def uow() -> FakeUnitOfWork:
    # The technician orders go to works at the car's site.
    fake = FakeUnitOfWork(Worker(TECH.user_id, "technician", True, frozenset({"north"})))
    fake.sites.policies["north"] = BACKUP
    fake.sites.contractors["elev-01"] = "Harmony Lift"
    return fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


async def test_a_rule_entrapment_opens_a_rescue_order_with_the_sites_targets(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    outcome = await services.handle_signal(uow, TRAPPED, clock)
    order = outcome.work_order
    assert order is not None
    assert (order.category, order.priority) == ("rescue", "P1")
    assert order.rescue is not None
    assert order.rescue.targets.contracted_maintainer == "Harmony Lift"
    assert order.rescue.targets.chain[0].party == "Backup Lift Rescue Co."


async def test_a_second_report_joins_the_open_rescue(uow: FakeUnitOfWork, clock: FakeClock) -> None:
    first = await services.report_entrapment(uow, RESIDENT, clock, car=CAR, building="B1")
    assert (first.order.source, first.order.requested_by) == ("resident", RESIDENT.user_id)
    clock.advance(minutes=1)
    again = await services.report_entrapment(
        uow, MANAGER, clock, car=CAR, description="caller on 96333 says two people inside"
    )
    assert again.order.id == first.order.id
    assert [n.text for n in again.order.notes] == ["caller on 96333 says two people inside"]


async def test_the_chain_escalates_once_per_step_until_someone_arrives(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    order = (await services.report_entrapment(uow, MANAGER, clock, car=CAR)).order

    async def rescue_steps_at(minutes: int) -> list[tuple[int, str]]:
        clock.now = T0 + timedelta(minutes=minutes)
        check = await services.check_slas(uow, POLICY, clock)
        return [(e.level, e.notify) for e in check.escalations if e.clock == "rescue"]

    await services.perform(uow, cmd.Assign(order.id, TECH.user_id), MANAGER, clock, POLICY)
    await services.perform(uow, cmd.Acknowledge(order.id), TECH, clock, POLICY)  # responded
    assert await rescue_steps_at(30) == []  # the arrival target, not past it
    assert await rescue_steps_at(31) == [(1, "backup_maintainer")]
    assert await rescue_steps_at(40) == []
    assert await rescue_steps_at(46) == [(2, "emergency_services")]
    assert await rescue_steps_at(90) == []
    sent = [(e.clock, e.level, e.notify) for e in order.escalations if e.clock == "rescue"]
    assert sent == [("rescue", 1, "backup_maintainer"), ("rescue", 2, "emergency_services")]


async def test_an_arrival_in_time_stops_the_chain(uow: FakeUnitOfWork, clock: FakeClock) -> None:
    order = (await services.report_entrapment(uow, MANAGER, clock, car=CAR)).order
    clock.advance(minutes=9)
    await services.perform(uow, cmd.Arrive(order.id), TECH, clock, POLICY)
    clock.advance(hours=2)
    check = await services.check_slas(uow, POLICY, clock)
    assert [e for e in check.escalations if e.clock == "rescue"] == []
    assert order.rescue is not None
    assert order.rescue.responded_at == T0 + timedelta(minutes=9)  # arriving is responding


async def test_a_late_response_escalates_before_the_arrival_target(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    await services.report_entrapment(uow, MANAGER, clock, car=CAR)
    clock.advance(minutes=11)
    check = await services.check_slas(uow, POLICY, clock)
    assert [(e.level, e.overdue_minutes) for e in check.escalations if e.clock == "rescue"] == [
        (1, 1)
    ]


async def test_a_false_alarm_is_recorded_as_such(uow: FakeUnitOfWork, clock: FakeClock) -> None:
    order = (await services.report_entrapment(uow, RESIDENT, clock, car=CAR)).order
    clock.advance(minutes=4)
    with pytest.raises(InvalidRequest, match="needs a reason"):
        await services.perform(uow, cmd.FalseAlarm(order.id, " "), MANAGER, clock, POLICY)
    result = await services.perform(
        uow, cmd.FalseAlarm(order.id, "child pressed the button"), MANAGER, clock, POLICY
    )
    assert result.order.status is Status.CANCELLED
    assert result.order.rescue is not None
    assert result.order.rescue.stage is Stage.FALSE_ALARM
    assert result.order.rescue.false_alarm_reason == "child pressed the button"
    [event] = result.events
    assert (event.action, event.detail["rescue"]) == ("false_alarm", "false_alarm")
    clock.advance(hours=1)
    assert (await services.check_slas(uow, POLICY, clock)).escalations == []


def test_two_cars_with_one_rescue_code_are_refused(tmp_path: Path) -> None:
    car = (
        "{{name: {name}, make: Otis, model: GeN2, install_date: 2010-01-01, rated_load_kg: 1000,"
        " rated_speed_mps: 1.75, floors_served: 11, rescue_code: '{code}'}}"
    )
    path = tmp_path / "site.yaml"
    path.write_text(
        "site: north\nname: North\nbuildings:\n  - name: B1\n    elevators:\n"
        f"      - {car.format(name='elev-01', code='31A7')}\n"
        f"      - {car.format(name='elev-02', code='31A7')}\n"
    )
    with pytest.raises(ConfigError, match="rescue code 31A7 of elev-02 is also elev-01's"):
        load_site_file(path)


# -- the alarm button rule ---------------------------------------------------------------


def button_readings(held_s: int, *, stuck_s: float = 0.0) -> list[Signal]:
    """A car at floor 3 (or stuck ``stuck_s`` between floors) with its alarm button held
    for ``held_s`` seconds, then let go; the signals the shipped rules give."""
    clock = FakeClock(T0)
    engine = RuleEngine(load_rules(DEFAULT_RULES), clock)
    signals = []
    for s in range(0, held_s + 2):
        clock.now = T0 + timedelta(seconds=s)
        fields = {
            "alarm_button": s <= held_s,
            "stopped_outside_zone_s": stuck_s,
            "floor": 3,
            "car_load": 10.0,
        }
        signals += engine.observe(TelemetryReading(CAR, "B1", clock.now, fields))
    return signals


def test_the_alarm_button_held_at_a_landing_raises_a_p1_entrapment() -> None:
    signals = button_readings(12)
    assert [(s.kind, s.rule, s.priority, s.fault_kind) for s in signals] == [
        ("raised", "alarm_button", "P1", "entrapment"),
        ("cleared", "alarm_button", "P1", "entrapment"),
    ]
    assert signals[0].at == T0 + timedelta(seconds=10)


def test_a_short_press_or_a_car_stuck_between_floors_is_not_the_buttons_alarm() -> None:
    assert button_readings(5) == []
    assert [s.rule for s in button_readings(12, stuck_s=40.0)] == ["entrapment"]


async def test_the_alarm_button_opens_the_cars_rescue(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    [raised, _cleared] = button_readings(12)
    outcome = await services.handle_signal(uow, raised, clock)
    assert outcome.work_order is not None
    assert outcome.work_order.category == "rescue"
    assert outcome.work_order.rescue is not None
