"""KPIs on a small fixed dataset; every expected value is worked out by hand below."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from maintenance.domain.kpis import KpiFrames, KpiInputError, Kpis, compute_kpis

START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)  # 31 days = 744 hours


def t(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def order(order_id: str, **values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": order_id,
        "asset_id": "elev-01",
        "asset_kind": "elevator",
        "building": "B1",
        "category": "elevator_repair",
        "priority": "P1",
        "source": "alarm",
        "acknowledged_at": None,
        "first_feedback_at": None,
        "resolved_at": None,
        "closed_at": None,
        "response_due_at": None,
        "feedback_due_at": None,
        "on_hold_minutes": 0.0,
        "cost_actual": None,
        "rating": None,
        "repeat_of": None,
        "resolution": None,
    }
    return base | values


ORDERS = [
    # ack 5 min (due 10: met), feedback 40 min (due 60: met), resolved in 120 min.
    order("wo1", created_at=t(10, 2, 8), acknowledged_at=t(10, 2, 8, 5),
          first_feedback_at=t(10, 2, 8, 40), resolved_at=t(10, 2, 10), closed_at=t(10, 2, 12),
          response_due_at=t(10, 2, 8, 10), feedback_due_at=t(10, 2, 9),
          cost_actual=800.0, rating=5),
    # ack 15 min (due 10: breached), feedback 90 min (due 60: breached); resolved after
    # 360 min of which 60 on hold -> 300; a repeat of wo1.
    order("wo2", created_at=t(10, 10, 20), acknowledged_at=t(10, 10, 20, 15),
          first_feedback_at=t(10, 10, 21, 30), resolved_at=t(10, 11, 2), closed_at=t(10, 11, 9),
          response_due_at=t(10, 10, 20, 10), feedback_due_at=t(10, 10, 21),
          on_hold_minutes=60.0, cost_actual=1200.0, rating=3, repeat_of="wo1"),
    # A charger: ack 20 (due 30: met), feedback 60 (due 120: met), resolved in 360 min.
    order("wo3", asset_id="ch-01", asset_kind="charger", category="charger_repair",
          priority="P2", created_at=t(10, 15, 12), acknowledged_at=t(10, 15, 12, 20),
          first_feedback_at=t(10, 15, 13), resolved_at=t(10, 15, 18), closed_at=t(10, 16, 10),
          response_due_at=t(10, 15, 12, 30), feedback_due_at=t(10, 15, 14),
          cost_actual=300.5, rating=4),
    # A smoke alarm, raised by a resident: ack 60 (met), feedback met, resolved in 1,440
    # min; no cost, no rating.
    order("wo4", asset_id="sa-07", asset_kind="smoke_alarm", category="smoke_alarm",
          priority="P4", source="resident", created_at=t(10, 20, 9),
          acknowledged_at=t(10, 20, 10), first_feedback_at=t(10, 20, 12),
          resolved_at=t(10, 21, 9), closed_at=t(10, 21, 10),
          response_due_at=t(10, 20, 17), feedback_due_at=t(10, 21, 9)),
    # Created 10 minutes before the period ends, acknowledged after it: as of the period
    # end not acknowledged and not yet due -> pending in both SLAs.
    order("wo5", asset_id="elev-02", priority="P2", created_at=t(10, 31, 23, 50),
          acknowledged_at=t(11, 1, 0, 5), response_due_at=t(11, 1, 0, 20),
          feedback_due_at=t(11, 1, 1, 50)),
    # Never acknowledged, due long before the end -> breached in both; a repeat.
    order("wo6", asset_id="elev-02", priority="P3", created_at=t(10, 25, 10),
          response_due_at=t(10, 25, 12), feedback_due_at=t(10, 25, 18), repeat_of="wo0"),
    # Created in September: not in the SLA figures, but resolved and closed in October:
    # 3 days = 4,320 min less 120 on hold -> 4,200 min.
    order("wo7", created_at=t(9, 28, 10), acknowledged_at=t(9, 28, 10, 5),
          resolved_at=t(10, 1, 10), closed_at=t(10, 1, 12), response_due_at=t(9, 28, 10, 10),
          on_hold_minutes=120.0, cost_actual=2000.0, rating=2),
    # ack 10 (due 30: met), feedback 150 min (due 120: breached), resolved after the end.
    order("wo8", asset_id="ch-01", asset_kind="charger", category="charger_repair",
          priority="P2", created_at=t(10, 30, 8), acknowledged_at=t(10, 30, 8, 10),
          first_feedback_at=t(10, 30, 10, 30), resolved_at=t(11, 1, 9),
          response_due_at=t(10, 30, 8, 30), feedback_due_at=t(10, 30, 10)),
]  # fmt: skip

FAULTS = pd.DataFrame(
    {
        "asset_id": ["elev-01"] * 6 + ["elev-02"],
        "at": [
            t(9, 30, 23, 59),  # before the period
            t(10, 2, 7, 58),
            t(10, 10, 19, 59),
            t(10, 20, 3),
            t(10, 28, 14),
            t(11, 1, 0),  # the period end is excluded
            t(10, 25, 9, 55),
        ],
    }
)
TRIPS = pd.DataFrame({"asset_id": ["elev-01", "elev-02", "elev-03"], "trips": [8000, 12000, 9000]})
HOURS = pd.DataFrame({"asset_id": ["elev-01"], "hours": [320.0]})


@pytest.fixture(scope="module")
def kpis() -> Kpis:
    frames = KpiFrames(pd.DataFrame(ORDERS), faults=FAULTS, trips=TRIPS, operating_hours=HOURS)
    return compute_kpis(frames, START, END)


def test_counts(kpis: Kpis) -> None:
    assert kpis.orders_created == 7  # all but wo7
    assert kpis.orders_resolved == 5  # wo1, wo2, wo3, wo4, wo7 (wo8 resolved in November)
    assert kpis.orders_closed == 5  # wo1, wo2, wo3, wo4, wo7
    assert kpis.repeat_faults == 2  # wo2, wo6


def test_sla_compliance(kpis: Kpis) -> None:
    # Response: met wo1, wo3, wo4, wo8; breached wo2 (late), wo6 (open past due);
    # pending wo5. Share 4 / 6.
    response = kpis.response_sla
    assert (response.met, response.breached, response.pending) == (4, 2, 1)
    assert response.share == pytest.approx(4 / 6)
    # Feedback: met wo1, wo3, wo4; breached wo2, wo6, wo8; pending wo5. Share 3 / 6.
    feedback = kpis.feedback_sla
    assert (feedback.met, feedback.breached, feedback.pending) == (3, 3, 1)
    assert feedback.share == pytest.approx(0.5)


def test_time_to_acknowledge_and_resolve(kpis: Kpis) -> None:
    # Acknowledged by the end, created in the period: 5, 15, 20, 60, 10 minutes.
    # Mean 110 / 5 = 22; median 15; p90 at rank 0.9 * 4 = 3.6: 20 + 0.6 * (60 - 20) = 44.
    ack = kpis.time_to_acknowledge_minutes
    assert (ack.count, ack.mean, ack.median) == (5, 22.0, 15.0)
    assert ack.p90 == pytest.approx(44.0)
    # Resolved in the period, less hold: 120, 300, 360, 1,440, 4,200.
    # Mean 6,420 / 5 = 1,284 (the MTTR); median 360; p90: 1,440 + 0.6 * 2,760 = 3,096.
    resolve = kpis.time_to_resolve_minutes
    assert (resolve.count, resolve.mean, resolve.median) == (5, 1284.0, 360.0)
    assert resolve.p90 == pytest.approx(3096.0)


def test_satisfaction_and_spending(kpis: Kpis) -> None:
    # Ratings of orders closed in the period: 5, 3, 4, 2 (wo4 unrated). Average 3.5;
    # satisfied (>= 4): 2 of 4.
    assert kpis.satisfaction.rated == 4
    assert kpis.satisfaction.average == 3.5
    assert kpis.satisfaction.share_satisfied == 0.5
    # Closed in the period: elevator 800 + 1,200 + 2,000; charger 300.50; wo4 no cost.
    assert kpis.spending_by_category == {"charger_repair": 300.5, "elevator_repair": 4000.0}
    assert kpis.spending_total == 4300.5


def test_per_elevator(kpis: Kpis) -> None:
    by_id = {e.asset_id: e for e in kpis.elevators}
    assert list(by_id) == ["elev-01", "elev-02", "elev-03"]
    one, two, three = by_id["elev-01"], by_id["elev-02"], by_id["elev-03"]
    # elev-01: 4 faults in October over 8,000 trips = 0.5 per 1,000; 320 running hours / 4
    # = 80 h; MTTR of wo1, wo2, wo7: (120 + 300 + 4,200) / 3 = 1,540; repeat: wo2.
    assert (one.faults, one.trips, one.faults_per_1000_trips) == (4, 8000, 0.5)
    assert (one.mtbf_hours, one.mtbf_basis) == (80.0, "operating")
    assert one.mttr_minutes == 1540.0
    assert one.repeat_faults == 1
    # elev-02: 1 fault / 12,000 trips; no running hours: 744 calendar hours / 1; nothing
    # resolved; repeat: wo6.
    assert two.faults_per_1000_trips == pytest.approx(1 / 12)
    assert (two.mtbf_hours, two.mtbf_basis) == (744.0, "calendar")
    assert two.mttr_minutes is None
    assert two.repeat_faults == 1
    # elev-03: only trips known; no fault, so no MTBF.
    assert (three.faults, three.faults_per_1000_trips, three.mtbf_hours) == (0, 0.0, None)


def test_json_and_report_rows(kpis: Kpis) -> None:
    document = json.loads(kpis.model_dump_json())
    assert document["response_sla"]["met"] == 4
    rows = {(row["metric"], row["scope"]): row["value"] for row in kpis.to_rows()}
    assert rows[("response_sla.share", "")] == pytest.approx(4 / 6)
    assert rows[("time_to_resolve_minutes.p90", "")] == pytest.approx(3096.0)
    assert rows[("spending", "elevator_repair")] == 4000.0
    assert rows[("elevator.mtbf_hours", "elev-02")] == 744.0
    assert rows[("period_start", "")] == "2026-10-01T00:00:00Z"
    assert all(set(row) == {"metric", "scope", "value"} for row in kpis.to_rows())


def test_empty_period_has_no_shares() -> None:
    empty = compute_kpis(KpiFrames(pd.DataFrame(ORDERS[:1])), t(12, 1, 0), t(12, 2, 0))
    assert empty.orders_created == 0
    assert empty.response_sla.share is None
    assert empty.time_to_acknowledge_minutes.mean is None
    assert empty.satisfaction.average is None
    assert empty.spending_total == 0.0
    assert [e.asset_id for e in empty.elevators] == ["elev-01"]


def test_no_data_at_all() -> None:
    nothing = compute_kpis(KpiFrames(), START, END)
    assert (nothing.orders_created, nothing.repeat_faults, nothing.elevators) == (0, 0, ())
    assert nothing.feedback_sla.share is None
    assert nothing.spending_by_category == {}


def test_contract_violations_are_refused() -> None:
    with pytest.raises(KpiInputError, match="'work_orders' lacks column\\(s\\): rating"):
        compute_kpis(KpiFrames(pd.DataFrame(ORDERS).drop(columns="rating")), START, END)
    naive = pd.DataFrame(ORDERS)
    naive["created_at"] = naive["created_at"].map(lambda value: value.replace(tzinfo=None))
    with pytest.raises(KpiInputError, match="'created_at' holds naive datetimes"):
        compute_kpis(KpiFrames(naive), START, END)
    with pytest.raises(KpiInputError, match="aware"):
        compute_kpis(KpiFrames(pd.DataFrame(ORDERS)), START.replace(tzinfo=None), END)
    with pytest.raises(KpiInputError, match="not after its start"):
        compute_kpis(KpiFrames(pd.DataFrame(ORDERS)), END, START)


def test_spending_without_category_is_kept() -> None:
    loose = order(
        "wo9", category=None, created_at=t(10, 3, 9), closed_at=t(10, 4, 9), cost_actual=10.0
    )
    result = compute_kpis(KpiFrames(pd.DataFrame([loose])), START, END)
    assert result.spending_by_category == {"uncategorised": 10.0}
    assert result.spending_total == 10.0


def test_rescue_arrival_and_duration_of_rescues_reported_in_the_period() -> None:
    nat = None
    rescues = pd.DataFrame(
        [
            # Arrived in 20 min (on time), released at 35.
            ["WO-1", t(10, 3, 8), t(10, 3, 8, 20), t(10, 3, 8, 35), 30.0, False],
            # Arrived in 40 min (late for 30), released at 50.
            ["WO-2", t(10, 9, 22), t(10, 9, 22, 40), t(10, 9, 22, 50), 30.0, False],
            # Outside the area's hour target only later: 45 min against 60.
            ["WO-3", t(10, 20, 1), t(10, 20, 1, 45), nat, 60.0, False],
            # A false alarm: counted, left out of the times.
            ["WO-4", t(10, 21, 9), t(10, 21, 9, 5), nat, 30.0, True],
            # Reported before the period: not this month's.
            ["WO-5", t(9, 30, 23), t(10, 1, 0, 10), t(10, 1, 0, 20), 30.0, False],
            # Reported on the last evening, arrival after the period's end: not yet.
            ["WO-6", t(10, 31, 23, 50), t(11, 1, 0, 5), nat, 30.0, False],
        ],
        columns=[
            "id",
            "reported_at",
            "arrived_at",
            "released_at",
            "arrive_within_minutes",
            "false_alarm",
        ],
    )
    kpis = compute_kpis(KpiFrames(rescues=rescues), START, END)
    r = kpis.rescues
    assert (r.reported, r.false_alarms) == (5, 1)
    assert (r.arrival_minutes.count, r.arrival_minutes.mean) == (3, 35.0)  # 20, 40, 45
    assert r.arrived_on_time_share == pytest.approx(2 / 3)
    assert (r.rescue_minutes.count, r.rescue_minutes.median) == (2, 42.5)  # 35, 50
    rows = {(row["metric"], row["scope"]): row["value"] for row in kpis.to_rows()}
    assert rows[("rescues.arrival_minutes.mean", "")] == 35.0


def test_no_rescues_is_no_figures() -> None:
    r = compute_kpis(KpiFrames(), START, END).rescues
    assert (r.reported, r.arrival_minutes.mean, r.arrived_on_time_share) == (0, None, None)


def test_a_self_cleared_order_is_counted_apart_and_late_only_if_it_cleared_late() -> None:
    """Both P1 orders' alarms cleared with nobody acknowledging: one 4 minutes in (no one
    was late for it), one 25 minutes in (the 10-minute response was already missed)."""
    early = order("wo-early", created_at=t(10, 3, 8), closed_at=t(10, 3, 8, 4),
                  response_due_at=t(10, 3, 8, 10), feedback_due_at=t(10, 3, 9),
                  resolution="self_cleared")  # fmt: skip
    late = order("wo-late", created_at=t(10, 4, 8), closed_at=t(10, 4, 8, 25),
                 response_due_at=t(10, 4, 8, 10), feedback_due_at=t(10, 4, 9),
                 resolution="self_cleared")  # fmt: skip
    result = compute_kpis(KpiFrames(pd.DataFrame([early, late])), START, END)
    assert (result.orders_created, result.orders_closed, result.orders_self_cleared) == (2, 2, 2)
    assert (result.orders_resolved, result.time_to_resolve_minutes.count) == (0, 0)
    response = result.response_sla
    assert (response.met, response.breached, response.pending) == (0, 1, 0)
    # Feedback was due at 09:00: both cleared before it, so neither counts.
    feedback = result.feedback_sla
    assert (feedback.met, feedback.breached, feedback.pending, feedback.share) == (0, 0, 0, None)
    rows = {(row["metric"], row["scope"]): row["value"] for row in result.to_rows()}
    assert rows[("orders_self_cleared", "")] == 2
