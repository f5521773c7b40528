"""The city benchmark's own logic (bench/bench_city.py): how it shares cars between
gateways and sites between workers, and how it turns looks at InfluxDB into lags."""

from __future__ import annotations

from pathlib import Path

from bench.bench_city import LagMeter, box_cpu_ticks, split


def test_split_shares_evenly_and_keeps_every_item_once_in_order() -> None:
    cars = [f"elev-{n:04d}" for n in range(103)]
    runs = split(cars, 25)
    assert len(runs) == 25
    assert [car for run in runs for car in run] == cars
    assert {len(run) for run in runs} == {4, 5}
    assert split(["a", "b", "c"], 2) == [["a", "b"], ["c"]]
    assert split(["a"], 2) == [["a"], []]


def test_a_car_s_first_look_sets_where_it_stands_and_only_newer_points_are_lags() -> None:
    meter = LagMeter()
    meter.observe({"elev-1": 100.0, "elev-2": 100.5}, seen_at=101.0)
    assert meter.lags == []  # when those points arrived is unknown
    meter.observe({"elev-1": 101.0, "elev-2": 100.5}, seen_at=101.5)
    assert meter.lags == [0.5]  # elev-2 unchanged: nothing new
    # An older newest point (another query's window) neither counts nor moves it back.
    meter.observe({"elev-1": 100.8, "elev-2": 102.0}, seen_at=102.25)
    assert meter.lags == [0.5, 0.25]
    assert meter.newest == {"elev-1": 101.0, "elev-2": 102.0}


def test_the_box_s_busy_ticks_leave_out_idle_and_iowait(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal
    stat.write_text("cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 50 2 25 400 20 1 1 0 0 0\n")
    assert box_cpu_ticks(stat) == (160, 1000)
