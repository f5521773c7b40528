"""The read plan: fewest requests per poll for every built-in profile, and the limits.

The expected request counts are stated, and argued from the catalogue, in each test; an
independent exhaustive search then checks that no plan with fewer requests exists.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import pytest

from estatewatch.catalogue import (
    CodecError,
    DataType,
    Profile,
    RegisterField,
    RegisterImage,
    Table,
    Value,
    builtin_catalogue,
)
from gateway.plan import BIT_LIMIT, REGISTER_LIMIT, ReadRequest, coalesce, plan_device

MAX_GAP = 16  # EndpointConfig's default


def elevator() -> Profile:
    return builtin_catalogue()["elevator-nice3000"]


def charger() -> Profile:
    return builtin_catalogue()["charger-8port"]


def reg(
    key: str,
    address: int,
    *,
    table: Table = Table.HOLDING,
    type_: DataType = DataType.U16,
    length: int = 1,
    poll: str = "fast",
) -> RegisterField:
    return RegisterField(
        key=key,
        name=key,
        group=None,
        instance=None,
        table=table,
        address=address,
        type=DataType.BOOL if table.is_bit else type_,
        word_order="big",
        bits=None,
        length=length,
        scale=1.0,
        unit="",
        poll=poll,
        enum=None,
        description="",
    )


def spans(requests: Sequence[ReadRequest]) -> list[tuple[str, int, int]]:
    return [(str(r.table), r.address, r.count) for r in requests]


# --- an independent exhaustive search -------------------------------------------------


def exhaustive_minimum(fields: Sequence[RegisterField], max_gap: int) -> int:
    """The fewest requests reading ``fields``, by searching every possible set of requests.

    A request can always be shrunk to start at the first field it reads and end with the
    last one without breaking a rule, so the candidates are the intervals from one
    field's start to another's end that respect the size limit and the gap rule; every
    candidate reads a contiguous range of the sorted field positions. The search: the
    lowest position not yet read must be read by some candidate containing it; try each
    and recurse on what is left (memoised, so it is exhaustive yet fast). Tables never
    share a request, so the minimum is the sum of the per-table minima.
    """
    return sum(
        _table_minimum(sorted({(f.address, f.end) for f in fields if f.table is t}), t, max_gap)
        for t in Table
    )


def _table_minimum(positions: list[tuple[int, int]], table: Table, max_gap: int) -> int:
    if not positions:
        return 0
    limit = BIT_LIMIT if table.is_bit else REGISTER_LIMIT
    n = len(positions)
    reach: list[list[int]] = [[] for _ in range(n)]  # first index -> one-past-last
    for i in range(n):
        covered_to = positions[i][0]
        for j in range(i, n):
            start, end = positions[j]
            if start - covered_to > max_gap:
                break
            covered_to = max(covered_to, end)
            if covered_to - positions[i][0] > limit:
                break
            reach[i].append(j + 1)

    @functools.cache
    def fewest(first: int) -> int:
        if first == n:
            return 0
        # Candidates containing position ``first`` start at it or before; those that
        # start before it read the same or less of what is left, so starting at
        # ``first`` loses nothing.
        return 1 + min(fewest(end) for end in reach[first])

    return fewest(0)


def own_fields(profile: Profile, group: str) -> list[RegisterField]:
    """The group's fields that no faster group's request already reads."""
    plan = plan_device("x", profile)
    riders = set(plan.group(group).riders)
    return [f for f in profile.fields if f.poll == group and f.key not in riders]


# --- the built-in profiles ---------------------------------------------------------------


def test_elevator_fast_group_needs_four_requests() -> None:
    # Fast fields sit in four blocks: the controller's status block 0x1010-0x101D, the
    # monitoring box 0x2000-0x2008, direction at 0x3000 and the fault code at 0x8000.
    # Inside a block no gap exceeds 3 registers; between blocks the gaps are thousands,
    # so no request can join two blocks (at least 4), and each block spans at most 14
    # registers, far below 125 (4 suffice).
    plan = plan_device("elev-01", elevator())
    fast = plan.group("fast")
    assert spans(fast.requests) == [
        ("holding", 0x1010, 14),
        ("holding", 0x2000, 9),
        ("holding", 0x3000, 1),
        ("holding", 0x8000, 1),
    ]
    fields = [f for f in elevator().fields if f.poll == "fast"]
    assert exhaustive_minimum(fields, MAX_GAP) == 4


def test_elevator_slow_group_needs_two_requests_as_two_fields_ride_along() -> None:
    # Slow fields: rated_speed 0x1011 and door_cycles 0x2003-0x2004 lie inside fast
    # requests already, so they are decoded from those replies at no cost. What is left:
    # running_hours 0xF909 and run_count 0xF90B-0xF90C (one gap of 1: one request), and
    # heatsink_temperature 0xFA07, 250 registers further on: 2 requests, and no fewer.
    plan = plan_device("elev-01", elevator())
    slow = plan.group("slow")
    assert spans(slow.requests) == [("holding", 0xF909, 4), ("holding", 0xFA07, 1)]
    assert set(slow.riders) == {"rated_speed", "door_cycles"}
    assert exhaustive_minimum(own_fields(elevator(), "slow"), MAX_GAP) == 2
    # Planned alone, without riding along, the slow group would need 4.
    alone = [f for f in elevator().fields if f.poll == "slow"]
    assert len(coalesce(alone, max_gap=MAX_GAP)) == exhaustive_minimum(alone, MAX_GAP) == 4
    assert plan.requests_per_poll == {"fast": 4, "slow": 2}


def test_charger_fast_group_needs_three_requests() -> None:
    # Fast: 5 cabinet alarms, discrete inputs 0-4 (one bit request). Input registers:
    # cabinet values 0x0000-0x0003, then 8 ports of 11 registers 16 apart from 0x0100:
    # 0x0100 through 0x017A is 123 registers with gaps of 5, so one request (<= 125);
    # 0x0004 to 0x0100 is a gap of 252, so the cabinet block is a request of its own.
    # Different tables never share a request: 1 + 2 = 3.
    plan = plan_device("charger-01", charger())
    fast = plan.group("fast")
    assert spans(fast.requests) == [
        ("input", 0x0000, 4),
        ("input", 0x0100, 123),
        ("discrete", 0x0000, 5),
    ]
    fields = [f for f in charger().fields if f.poll == "fast"]
    assert exhaustive_minimum(fields, MAX_GAP) == 3


def test_charger_slow_group_needs_two_requests() -> None:
    # Slow: serial number and firmware, holding 0x1000-0x1008 (9 registers), and the
    # 8 port relays, coils 0-7: two tables, one request each.
    plan = plan_device("charger-01", charger())
    assert spans(plan.group("slow").requests) == [("holding", 0x1000, 9), ("coil", 0x0000, 8)]
    fields = [f for f in charger().fields if f.poll == "slow"]
    assert exhaustive_minimum(fields, MAX_GAP) == 2
    assert plan.requests_per_poll == {"fast": 3, "slow": 2}


@pytest.mark.parametrize("name", ["elevator-nice3000", "charger-8port"])
@pytest.mark.parametrize("max_gap", [0, 3, 16, 100])
def test_greedy_is_minimal_for_any_gap(name: str, max_gap: int) -> None:
    profile = builtin_catalogue()[name]
    for group in profile.poll_groups:
        fields = [f for f in profile.fields if f.poll == group]
        requests = coalesce(fields, max_gap=max_gap)
        assert len(requests) == exhaustive_minimum(fields, max_gap), (name, group, max_gap)
        read = {f.key for r in requests for f in r.fields}
        assert read == {f.key for f in fields}


def test_smaller_gap_needs_more_requests() -> None:
    # With no gap allowed the status block breaks at 0x1011 (slow), 0x1015-0x1017 and
    # 0x101C: 0x1010 | 0x1012-0x1014 | 0x1018-0x101B | 0x101D.
    plan = plan_device("elev-01", elevator(), max_gap=0)
    status = [r for r in plan.group("fast").requests if 0x1010 <= r.address < 0x1020]
    assert [(r.address, r.count) for r in status] == [
        (0x1010, 1),
        (0x1012, 3),
        (0x1018, 4),
        (0x101D, 1),
    ]


def test_describe_is_one_line_for_the_log() -> None:
    plan = plan_device("elev-01", elevator(), intervals={"fast": 0.5})
    assert plan.describe() == (
        "elev-01 (elevator-nice3000): fast 4 requests/poll every 0.5 s,"
        " slow 2 requests/poll every 60 s (+2 fields ride along)"
    )


def test_a_group_made_faster_goes_first_and_carries_the_other() -> None:
    plan = plan_device("elev-01", elevator(), intervals={"slow": 0.5})
    assert [g.name for g in plan.groups] == ["slow", "fast"]
    # Now fast fields never ride along in slow requests, as none of them lie inside.
    assert plan.group("slow").riders == ()
    assert plan.requests_per_poll == {"slow": 4, "fast": 4}


def test_unknown_groups_and_mqtt_profiles_are_refused() -> None:
    with pytest.raises(ValueError, match="no poll group"):
        plan_device("elev-01", elevator(), intervals={"medium": 5.0})
    with pytest.raises(ValueError, match="not a Modbus profile"):
        plan_device("smoke-001", builtin_catalogue()["smoke-alarm"])


# --- limits and gaps ---------------------------------------------------------------------


def test_exactly_125_registers_is_one_request() -> None:
    fields = [reg(f"r{a}", a) for a in range(0, 125, 5)] + [reg("last", 124)]
    assert spans(coalesce(fields, max_gap=16)) == [("holding", 0, 125)]


def test_126_registers_is_two_requests() -> None:
    fields = [reg(f"r{a}", a) for a in range(0, 121, 5)] + [reg("last", 125)]
    assert spans(coalesce(fields, max_gap=16)) == [("holding", 0, 121), ("holding", 125, 1)]


def test_a_field_at_the_limit_is_not_split() -> None:
    # A u32 at 123-124 still fits (125 registers); one at 124-125 would straddle the
    # limit, so it moves, whole, into the next request.
    fits = [reg("a", 0), reg("b", 100), reg("wide", 123, type_=DataType.U32, length=2)]
    assert spans(coalesce(fits, max_gap=100)) == [("holding", 0, 125)]
    straddles = [reg("a", 0), reg("b", 100), reg("wide", 124, type_=DataType.U32, length=2)]
    requests = coalesce(straddles, max_gap=100)
    assert spans(requests) == [("holding", 0, 101), ("holding", 124, 2)]
    assert [f.key for f in requests[1].fields] == ["wide"]


def test_exactly_2000_bits_is_one_request_and_2001_two() -> None:
    coils = [reg(f"c{a}", a, table=Table.COIL) for a in range(2000)]
    assert spans(coalesce(coils, max_gap=0)) == [("coil", 0, 2000)]
    coils.append(reg("c2000", 2000, table=Table.COIL))
    assert spans(coalesce(coils, max_gap=0)) == [("coil", 0, 2000), ("coil", 2000, 1)]


def test_gap_of_exactly_max_gap_is_bridged() -> None:
    # Registers 1-16 unused: a gap of 16.
    assert spans(coalesce([reg("a", 0), reg("b", 17)], max_gap=16)) == [("holding", 0, 18)]
    assert len(coalesce([reg("a", 0), reg("b", 18)], max_gap=16)) == 2


def test_tables_never_share_a_request() -> None:
    fields = [reg("h", 0), reg("i", 1, table=Table.INPUT), reg("d", 2, table=Table.DISCRETE)]
    assert len(coalesce(fields, max_gap=16)) == 3


def test_a_request_refuses_more_than_the_limit() -> None:
    with pytest.raises(ValueError, match="1-125"):
        ReadRequest(Table.HOLDING, 0, 126, ())
    with pytest.raises(ValueError, match="1-2000"):
        ReadRequest(Table.COIL, 0, 2001, ())


# --- decoding ---------------------------------------------------------------------------


def test_replies_decode_into_every_field_of_the_group() -> None:
    profile = elevator()
    image = RegisterImage()
    values = {
        "speed": 1.75,
        "rated_speed": 1.75,
        "floor": 7,
        "car_state": 5,
        "mode": 7,
        "door_close_limit_front": True,
        "door_cycles": 123_456,
        "in_door_zone": False,
        "levelling_error": -4,
        "direction": 1,
        "fault_code": 0,
        "run_count": 12_345_678,
        "heatsink_temperature": 41,
    }
    for key, value in values.items():
        image.set(profile.field(key), value)
    plan = plan_device("elev-01", profile)
    decoded: dict[str, Value] = {}
    for group in plan.groups:
        replies = [image.read(r.table, r.address, r.count) for r in group.requests]
        decoded |= group.decode(replies)
    assert {k: decoded[k] for k in values} == values
    # Every field of the profile is read by exactly one request.
    read = [f.key for g in plan.groups for r in g.requests for f in r.fields]
    assert sorted(read) == sorted(f.key for f in profile.fields)


def test_a_short_reply_is_refused_and_a_bad_field_is_left_out() -> None:
    profile = elevator()
    request = plan_device("elev-01", profile).group("slow").requests[0]  # 0xF909+4
    with pytest.raises(CodecError, match="expected 4 values, got 3"):
        request.decode([0, 0, 0])
    problems: list[str] = []
    values = request.decode([100, 0, 12_000, 5], problems)  # 12000 is no base-10000 digit
    assert values == {"running_hours": 100}
    assert problems == ["run_count: words 12000, 5 are not base-10000 digits"]
