"""The committee's monthly report: KPIs, urgent orders still open, spending, decisions.

:func:`monthly_report` builds it for a calendar month (UTC) from the database (and from
InfluxDB for trips, when a reader is given); :func:`report_csv` flattens it into one CSV
table of ``section, metric, scope, value`` rows, so a spreadsheet reads every section.

Everything is seen as of the month's end, so re-running a past month gives the same
report; in the current month a deadline is judged at the report's clock (``now``), so one
still ahead is no breach. "Open" P1/P2 orders are those created before the end and neither
closed nor cancelled by then (their ``status`` is shown as it is now); approvals are the
work-order spending decisions made in the month; proposals are those created or decided
in it.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from estatewatch.influx.query import InfluxReader
from maintenance.db.read.committee import ProposalRecord, proposals_between
from maintenance.db.read.kpi_frames import kpi_frames
from maintenance.db.read.work_orders import (
    ApprovalRecord,
    approvals_between,
    urgent_orders_open_at,
)
from maintenance.domain.kpis import KpiRow, Kpis, compute_kpis
from maintenance.domain.site_time import site_month_period
from maintenance.domain.sla import SlaPolicy
from maintenance.domain.workorders import WorkOrder

__all__ = [
    "ApprovalLine",
    "MonthlyReport",
    "OpenOrderLine",
    "ProposalLine",
    "month_period",
    "monthly_report",
    "report_csv",
    "report_rows",
]

CSV_COLUMNS: Final = ("section", "metric", "scope", "value")

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class OpenOrderLine(BaseModel):
    model_config = _FROZEN

    id: str
    title: str
    asset: str
    priority: str
    status: str
    created_at: AwareDatetime
    assignee: str | None


class ApprovalLine(BaseModel):
    model_config = _FROZEN

    order_id: str
    at: AwareDatetime
    by: str
    approved: bool
    amount: Decimal
    reason: str | None


class ProposalLine(BaseModel):
    model_config = _FROZEN

    id: str
    title: str
    amount: Decimal
    emergency: bool
    device_id: str | None
    recommendation: str | None
    status: str
    created_at: AwareDatetime
    decided_at: AwareDatetime | None
    path: str | None
    passed: bool | None


class MonthlyReport(BaseModel):
    model_config = _FROZEN

    month: str
    kpis: Kpis
    open_priority_orders: tuple[OpenOrderLine, ...]
    approvals: tuple[ApprovalLine, ...]
    approved_total: Decimal
    proposals: tuple[ProposalLine, ...]


def month_period(month: str) -> tuple[datetime, datetime]:
    """``"2026-11"`` -> (2026-11-01 00:00 UTC, 2026-12-01 00:00 UTC)."""
    return site_month_period(month, "UTC")


def _open_order_line(order: WorkOrder) -> OpenOrderLine:
    return OpenOrderLine(
        id=order.id,
        title=order.title,
        asset=order.asset,
        priority=order.priority,
        status=order.status.value,
        created_at=order.created_at,
        assignee=order.assignee,
    )


def _approval_line(record: ApprovalRecord) -> ApprovalLine:
    return ApprovalLine(
        order_id=record.order_id,
        at=record.at,
        by=f"{record.by_role}:{record.by_user}",
        approved=record.approved,
        amount=record.amount,
        reason=record.reason,
    )


def _proposal_line(record: ProposalRecord) -> ProposalLine:
    vote = record.vote
    evidence = record.evidence or {}
    return ProposalLine(
        id=record.id,
        title=record.title,
        amount=record.amount,
        emergency=record.emergency,
        device_id=record.device_id,
        recommendation=evidence.get("recommendation"),
        status=record.status,
        created_at=record.created_at,
        decided_at=record.decided_at,
        path=None if vote is None else vote.path,
        passed=None if vote is None else vote.passed,
    )


async def monthly_report(
    session: AsyncSession,
    month: str,
    *,
    now: datetime,
    policy: SlaPolicy,
    reader: InfluxReader | None = None,
) -> MonthlyReport:
    """The report of ``month`` (``YYYY-MM``) at ``now`` (the clock), read in ``session``."""
    start, end = month_period(month)
    frames = await kpi_frames(session, start, end, policy=policy, reader=reader)
    approvals = [_approval_line(a) for a in await approvals_between(session, start, end)]
    return MonthlyReport(
        month=month,
        kpis=compute_kpis(frames, start, end, as_of=now),
        open_priority_orders=tuple(
            _open_order_line(o) for o in await urgent_orders_open_at(session, end)
        ),
        approvals=tuple(approvals),
        approved_total=sum((a.amount for a in approvals if a.approved), Decimal(0)),
        proposals=tuple(_proposal_line(p) for p in await proposals_between(session, start, end)),
    )


def _record_rows(section: str, scope: str, record: BaseModel) -> list[dict[str, Any]]:
    return [
        {"section": section, "metric": name, "scope": scope, "value": value}
        for name, value in record.model_dump(mode="json").items()
        if name != "id"
    ]


def report_rows(report: MonthlyReport) -> list[dict[str, Any]]:
    """The report as ``section, metric, scope, value`` rows."""
    kpi_rows: list[KpiRow] = report.kpis.to_rows()
    rows: list[dict[str, Any]] = [{"section": "kpi", **row} for row in kpi_rows]
    for order in report.open_priority_orders:
        rows += _record_rows("open_priority_order", order.id, order)
    for number, approval in enumerate(report.approvals, start=1):
        rows += _record_rows("approval", f"{approval.order_id}#{number}", approval)
    rows.append(
        {
            "section": "approval",
            "metric": "approved_total",
            "scope": "",
            "value": str(report.approved_total),
        }
    )
    for proposal in report.proposals:
        rows += _record_rows("proposal", proposal.id, proposal)
    return rows


def report_csv(report: MonthlyReport) -> str:
    """The report as CSV text with a header row (``section,metric,scope,value``)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in report_rows(report):
        writer.writerow({k: "" if row[k] is None else row[k] for k in CSV_COLUMNS})
    return out.getvalue()
