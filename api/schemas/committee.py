"""Request and response bodies of the owners' committee: approvals, proposals, votes, KPIs.

Requests bound every number (counts, areas and amounts have a maximum size), so a hostile
value is a 422 naming the field before any arithmetic runs; ``to_domain`` turns a request
into the domain model of :mod:`maintenance.domain.votes` and reports a rule it breaks (an
area with no owners) as :class:`~maintenance.domain.errors.InvalidRequest` (422).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from api.schemas.constraints import NOT_BLANK, amount_limit, amount_schema
from maintenance.db.read.committee import ProposalRecord
from maintenance.domain.errors import InvalidRequest
from maintenance.domain.evidence import ElevatorEvidence
from maintenance.domain.kpis import Kpis
from maintenance.domain.proposals import FundVote
from maintenance.domain.votes import CommitteeDecision, Electorate, Tally
from maintenance.domain.workorders import Status, WorkOrder

__all__ = [
    "PROPOSAL_ID_PATTERN",
    "CommitteeDecisionIn",
    "ElectorateIn",
    "KpisOut",
    "PendingApprovalOut",
    "ProposalIn",
    "ProposalOut",
    "TallyIn",
    "TelemetryState",
    "VoteOut",
]

PROPOSAL_ID_PATTERN: Final = r"^PRP-[0-9a-f]{12}$"
TelemetryState = Literal["ok", "not_configured", "unavailable"]
"""Whether InfluxDB answered: ``unavailable`` when it is configured but down."""

Owners = Annotated[int, Field(ge=0, le=10_000_000)]
Area = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]
Members = Annotated[int, Field(ge=0, le=1000)]
Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=300, pattern=NOT_BLANK),
]

D = TypeVar("D", bound=BaseModel)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def _build(self, model: type[D]) -> D:
        try:
            return model(**self.model_dump())
        except ValidationError as exc:
            problems = "; ".join(str(error["msg"]) for error in exc.errors())
            raise InvalidRequest(f"{model.__name__.lower()} refused: {problems}") from None


class ProposalIn(_In):
    """An emergency proposal needs a justification (the domain's rule, said here too, so
    the document states it and the 422 names the field)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "if": {"properties": {"emergency": {"const": True}}, "required": ["emergency"]},
            "then": {
                "required": ["justification"],
                "properties": {"justification": {"type": "string", "pattern": NOT_BLANK}},
            },
        },
    )

    title: Text
    amount: Annotated[
        Decimal,
        Field(ge=0, le=amount_limit(12), max_digits=14, decimal_places=2),
        amount_schema(12),
    ]
    device_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="the elevator (or other asset) the money is for"
    )
    site: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="needed only when two sites have the same device id"
    )
    emergency: bool = False
    justification: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        default=None, validate_default=True, description="needed when emergency is true"
    )

    @field_validator("justification")
    @classmethod
    def _emergency_is_justified(cls, text: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("emergency") and not (text and text.strip()):
            raise ValueError("an emergency proposal needs a justification: who is endangered, how")
        return text


class ElectorateIn(_In):
    owners_total: Annotated[int, Field(ge=1, le=10_000_000)]
    area_total_m2: Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=4)]

    def to_domain(self) -> Electorate:
        return self._build(Electorate)


class TallyIn(_In):
    for_owners: Owners = 0
    for_area_m2: Area = Decimal(0)
    against_owners: Owners = 0
    against_area_m2: Area = Decimal(0)
    abstain_owners: Owners = 0
    abstain_area_m2: Area = Decimal(0)

    def to_domain(self) -> Tally:
        return self._build(Tally)


class CommitteeDecisionIn(_In):
    members_total: Annotated[int, Field(ge=1, le=1000)]
    for_members: Members
    against_members: Members = 0
    abstain_members: Members = 0

    def to_domain(self) -> CommitteeDecision:
        return self._build(CommitteeDecision)


class VoteOut(BaseModel):
    proposal_id: str
    path: Literal["owners", "committee_emergency"]
    electorate: Electorate | None
    opened_by: str
    opened_at: datetime
    tally: dict[str, Any] | None
    result: dict[str, Any] | None
    """The computed result (shares as exact fractions, "2/3"); None while voting."""
    passed: bool | None
    recorded_by: str | None
    recorded_at: datetime | None

    @classmethod
    def of(cls, vote: FundVote) -> VoteOut:
        return cls(
            proposal_id=vote.proposal_id,
            path=vote.path,
            electorate=vote.electorate,
            opened_by=vote.opened_by,
            opened_at=vote.opened_at,
            tally=vote.tally,
            result=vote.result,
            passed=vote.passed,
            recorded_by=vote.recorded_by,
            recorded_at=vote.recorded_at,
        )


class ProposalOut(BaseModel):
    id: str
    site: str | None
    device_id: str | None
    title: str
    amount: Decimal
    emergency: bool
    justification: str | None
    evidence: ElevatorEvidence | None
    """Frozen at creation: what the owners vote on."""
    status: Literal["open", "decided"]
    created_by: str
    created_at: datetime
    decided_at: datetime | None
    vote: VoteOut | None

    @classmethod
    def of(cls, record: ProposalRecord) -> ProposalOut:
        return cls(
            id=record.id,
            site=record.site,
            device_id=record.device_id,
            title=record.title,
            amount=record.amount,
            emergency=record.emergency,
            justification=record.justification,
            evidence=(
                None
                if record.evidence is None
                else ElevatorEvidence.model_validate(record.evidence)
            ),
            status=record.status,
            created_by=record.created_by,
            created_at=record.created_at,
            decided_at=record.decided_at,
            vote=None if record.vote is None else VoteOut.of(record.vote),
        )


class PendingApprovalOut(BaseModel):
    """A work order waiting for the committee to approve its cost estimate."""

    id: str
    title: str
    asset: str
    site: str
    priority: str
    category: str
    cost_estimate: Decimal | None
    created_at: datetime
    approval_requested_at: datetime | None

    @classmethod
    def of(cls, order: WorkOrder) -> PendingApprovalOut:
        return cls(
            id=order.id,
            title=order.title,
            asset=order.asset,
            site=order.site,
            priority=order.priority,
            category=order.category,
            cost_estimate=order.cost_estimate,
            created_at=order.created_at,
            approval_requested_at=order.entered_at.get(Status.AWAITING_APPROVAL),
        )


class KpisOut(BaseModel):
    kpis: Kpis
    trips: TelemetryState
    """Where per-elevator trips came from: ``ok`` (InfluxDB), else left out."""
