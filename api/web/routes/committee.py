"""The owners' committee's pages: approvals waiting, proposals and their votes, the
monthly report.

``/committee`` lists the orders waiting for approval of their cost (approve, or reject
with a reason) and the spending proposals; ``/committee/proposals/<id>`` shows one with
its evidence and lets the committee open the owners' vote, record the tally (the result
is computed by :mod:`maintenance.domain.votes`) or decide an emergency proposal;
``/committee/report?month=YYYY-MM`` is the monthly report (:mod:`maintenance.reports`)
with a print stylesheet.

Who may see and do what is the JSON API's rule, read from its modules (``READERS``,
``VOTERS``... in :mod:`api.routes.committee`, ``APPROVERS`` in
:mod:`api.routes.work_orders`); changes go through the same use cases. A refused change
(a tie already decided, a reason missing) shows the page again with the reason and the
status the API would answer; success redirects (303) back with a note.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from functools import partial
from typing import Annotated, Any, Final

from fastapi import Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from api.deps import AppServices, ReadSession, Uow
from api.routes.assets import with_telemetry
from api.routes.committee import APPROVAL_READERS, PROPOSERS, READERS, VOTERS, propose
from api.routes.work_orders import APPROVERS
from api.schemas.committee import (
    PROPOSAL_ID_PATTERN,
    CommitteeDecisionIn,
    ElectorateIn,
    ProposalIn,
    TallyIn,
)
from api.schemas.work_orders import ORDER_ID_PATTERN
from api.visibility import can_see_order
from api.web.deps import Page, PageDep, WebUser, page_allow, page_router
from api.web.evidence import FINDINGS, RECOMMENDATIONS
from api.web.forms import ANY, ErrorTable, field_errors
from api.web.i18n import N_
from api.web.pdf import pdf_of
from api.web.routes.public import CATEGORY_NAMES
from maintenance import services as use_cases
from maintenance.db.read import committee
from maintenance.db.read.assets import AssetInfo, asset_register
from maintenance.db.read.sites import get_site
from maintenance.db.read.work_orders import awaiting_approval
from maintenance.domain import commands as cmd
from maintenance.domain.errors import DomainError, InvalidRequest, NotFound
from maintenance.domain.evidence import ElevatorEvidence
from maintenance.domain.site_time import DEFAULT_TIMEZONE, month_of
from maintenance.reports import monthly_report

__all__ = ["router"]

router = page_router(prefix="/committee")

OrderId = Annotated[str, Path(pattern=ORDER_ID_PATTERN)]
ProposalId = Annotated[str, Path(pattern=PROPOSAL_ID_PATTERN)]
Month = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")]

DONE: Final = {
    "approved": N_("Spending approved."),
    "rejected": N_("Spending rejected; the technician sees your reason."),
    "vote_opened": N_("The owners' vote is open. Record the tally when the ballots are counted."),
    "tally": N_("Tally recorded; the result is below."),
    "decided": N_("Emergency decision recorded."),
    "proposed": N_("Proposal created. Open the owners' vote when it is ready."),
}
"""Notes shown after a change (``?done=<key>``)."""


def _refused(exc: Exception) -> tuple[int, str]:
    """The status the JSON API answers for ``exc`` and its message."""
    if isinstance(exc, ValidationError):
        return 422, "; ".join(str(error["msg"]) for error in exc.errors())
    return (422 if isinstance(exc, InvalidRequest) else 409), str(exc)


def _done(page: Page, request: Request) -> str | None:
    key = request.query_params.get("done")
    return page.gettext(DONE[key]) if key in DONE else None


async def _form(request: Request, model: type[BaseModel]) -> dict[str, Any]:
    """The form's fields that ``model`` knows (the CSRF field and the rest left out)."""
    form = await request.form()
    return {
        name: value
        for name, value in form.items()
        if name in model.model_fields and isinstance(value, str) and value.strip()
    }


# -- the committee's desk: approvals waiting and proposals -------------------------------


async def _desk(
    page: Page,
    me: WebUser,
    reader: ReadSession,
    request: Request,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    role = me.user.role
    approvals = await awaiting_approval(reader) if role in APPROVAL_READERS else None
    proposals = await committee.list_proposals(reader)
    return page.render(
        "committee/desk.html",
        {
            "approvals": approvals,
            "can_approve": role in APPROVERS,
            "open": [p for p in proposals if p.status == "open"],
            "decided": [p for p in proposals if p.status != "open"],
            "done": _done(page, request),
            "error": error,
            "can_propose": role in PROPOSERS,
        },
        status_code=status_code,
    )


@router.get("", dependencies=[page_allow(*READERS)])
async def desk(page: PageDep, me: WebUser, reader: ReadSession, request: Request) -> HTMLResponse:
    return await _desk(page, me, reader, request)


async def _decide_spending(
    request: Request,
    page: Page,
    me: WebUser,
    uow: Uow,
    reader: ReadSession,
    services: AppServices,
    command: cmd.OrderCommand,
    done: str,
) -> Response:
    try:
        await use_cases.perform(
            uow,
            command,
            me.actor,
            services.clock,
            services.sla_policy,
            visible=partial(can_see_order, me.user),
        )
    except NotFound:
        raise
    except DomainError as exc:
        status, message = _refused(exc)
        error = page.gettext(
            N_("%(order)s was not changed: %(why)s"), order=command.order_id, why=message
        )
        return await _desk(page, me, reader, request, error=error, status_code=status)
    return RedirectResponse(f"/committee?done={done}#approvals", status_code=303)


@router.post("/orders/{order_id}/approve", dependencies=[page_allow(*APPROVERS)])
async def approve(
    order_id: OrderId,
    request: Request,
    page: PageDep,
    me: WebUser,
    uow: Uow,
    reader: ReadSession,
    services: AppServices,
) -> Response:
    note = str((await request.form()).get("note") or "").strip() or None
    command = cmd.Approve(order_id, reason=note)
    return await _decide_spending(request, page, me, uow, reader, services, command, "approved")


@router.post("/orders/{order_id}/reject", dependencies=[page_allow(*APPROVERS)])
async def reject(
    order_id: OrderId,
    request: Request,
    page: PageDep,
    me: WebUser,
    uow: Uow,
    reader: ReadSession,
    services: AppServices,
) -> Response:
    reason = str((await request.form()).get("reason") or "").strip()
    if not reason:
        error = page.gettext(N_("Give a reason for rejecting %(order)s."), order=order_id)
        return await _desk(page, me, reader, request, error=error, status_code=422)
    command = cmd.Reject(order_id, reason=reason)
    return await _decide_spending(request, page, me, uow, reader, services, command, "rejected")


# -- a new proposal ----------------------------------------------------------------------

# The asset list's groups, by the register's kind (others are listed under their kind).
KIND_GROUPS: Final = {
    "elevator": N_("Elevators"),
    "charger_cabinet": N_("E-bike charger cabinets"),
    "smoke_alarm": N_("Smoke alarms"),
}
_TOO_LONG: Final = N_("At most %(max_length)s characters.")
_NOT_AN_ASSET: Final = N_("This asset is not in the register: choose one from the list.")
_UNJUSTIFIED: Final = N_("An emergency proposal needs a justification: who is endangered, and how.")
PROPOSAL_ERRORS: Final[ErrorTable] = {
    "title": {"missing": N_("Give the proposal a title."), "string_too_long": _TOO_LONG},
    "amount": {
        "missing": N_("Give the amount in yuan."),
        "decimal_parsing": N_("Write the amount as a number of yuan, e.g. 120000 or 8500.50."),
        "greater_than_equal": N_("The amount cannot be negative."),
        "decimal_max_places": N_("At most two decimals (fen)."),
        ANY: N_("The amount is too large."),
    },
    "justification": {
        "string_too_long": _TOO_LONG,
        "value_error": _UNJUSTIFIED,
    },
    "device_id": {ANY: _NOT_AN_ASSET},
    "site": {ANY: _NOT_AN_ASSET},
}
_FORM_FIELDS: Final = ("title", "amount", "asset", "justification")


def _asset_groups(register: Mapping[str, AssetInfo]) -> list[tuple[str, list[AssetInfo]]]:
    """The register's assets by kind (elevators first), each sorted by site and id."""
    by_kind: dict[str, list[AssetInfo]] = {}
    for asset in sorted(register.values(), key=lambda a: (a.site, a.building, a.device_id)):
        by_kind.setdefault(asset.kind, []).append(asset)
    order = list(KIND_GROUPS)
    kinds = sorted(by_kind, key=lambda k: (order.index(k) if k in order else len(order), k))
    return [(kind, by_kind[kind]) for kind in kinds]


async def _proposal_form(
    page: Page,
    reader: ReadSession,
    *,
    form: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    register = await asset_register(reader)
    return page.render(
        "committee/new_proposal.html",
        {
            "groups": _asset_groups(register),
            "kind_groups": KIND_GROUPS,
            "several_sites": len({a.site for a in register.values()}) > 1,
            "form": form or {},
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/proposals/new", dependencies=[page_allow(*PROPOSERS)])
async def new_proposal(page: PageDep, reader: ReadSession) -> HTMLResponse:
    return await _proposal_form(page, reader)


@router.post("/proposals", dependencies=[page_allow(*PROPOSERS)])
async def create_proposal(
    request: Request,
    page: PageDep,
    me: WebUser,
    uow: Uow,
    reader: ReadSession,
    services: AppServices,
) -> Response:
    """The JSON API's ``POST /committee/proposals`` from a form: the same model, the same
    use case; a refusal shows the form again with each reason beside its field."""
    posted = await request.form()
    form = {
        name: value.strip()
        for name in _FORM_FIELDS
        if isinstance(value := posted.get(name), str) and value.strip()
    }
    emergency = posted.get("emergency") == "true"
    fields: dict[str, object] = {k: v for k, v in form.items() if k != "asset"}
    if "asset" in form:  # "site/device_id", as the list offers it
        site, slash, device_id = form["asset"].partition("/")
        fields |= {"site": site, "device_id": device_id} if slash else {"device_id": site}
    errors: dict[str, str] = {}
    try:
        body = ProposalIn.model_validate(fields | {"emergency": emergency})
        proposal_id = await propose(body, me.actor, uow, reader, services.clock, services.influx)
    except ValidationError as exc:
        errors = field_errors(
            page, exc, PROPOSAL_ERRORS, fields={"device_id": "asset", "site": "asset"}
        )
    except NotFound:  # the asset named is not in the register
        errors = {"asset": page.gettext(_NOT_AN_ASSET)}
    else:
        return RedirectResponse(
            f"/committee/proposals/{proposal_id}?done=proposed", status_code=303
        )
    form |= {"emergency": "true"} if emergency else {}
    return await _proposal_form(page, reader, form=form, errors=errors, status_code=422)


# -- one proposal: evidence, vote --------------------------------------------------------


def _evidence(record: committee.ProposalRecord) -> ElevatorEvidence | None:
    return None if record.evidence is None else ElevatorEvidence.model_validate(record.evidence)


async def _proposal(
    page: Page,
    me: WebUser,
    reader: ReadSession,
    request: Request,
    proposal_id: str,
    *,
    error: str | None = None,
    form: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    record = await committee.get_proposal(reader, proposal_id)
    zone = (
        DEFAULT_TIMEZONE if record.site is None else (await get_site(reader, record.site)).timezone
    )
    return page.render(
        "committee/proposal.html",
        {
            "proposal": record,
            "evidence": _evidence(record),
            "recommendations": RECOMMENDATIONS,
            "findings": FINDINGS,
            "vote": record.vote,
            "can_vote": me.user.role in VOTERS,
            "done": _done(page, request),
            "error": error,
            "form": form or {},
            "site_tz": zone,
        },
        status_code=status_code,
    )


@router.get("/proposals/{proposal_id}", dependencies=[page_allow(*READERS)])
async def proposal(
    proposal_id: ProposalId, page: PageDep, me: WebUser, reader: ReadSession, request: Request
) -> HTMLResponse:
    return await _proposal(page, me, reader, request, proposal_id)


async def _vote_step(
    proposal_id: str,
    request: Request,
    page: Page,
    me: WebUser,
    uow: Uow,
    reader: ReadSession,
    services: AppServices,
    model: type[ElectorateIn] | type[TallyIn] | type[CommitteeDecisionIn],
    done: str,
) -> Response:
    fields = await _form(request, model)
    try:
        body = model.model_validate(fields)
        if isinstance(body, ElectorateIn):
            await use_cases.open_vote(uow, me.actor, services.clock, proposal_id, body.to_domain())
        elif isinstance(body, TallyIn):
            await use_cases.record_tally(
                uow, me.actor, services.clock, proposal_id, body.to_domain()
            )
        else:
            decision = body.to_domain()
            await use_cases.emergency_decision(uow, me.actor, services.clock, proposal_id, decision)
    except NotFound:
        raise
    except (DomainError, ValidationError) as exc:
        status, message = _refused(exc)
        error = page.gettext(N_("Not recorded: %(why)s"), why=message)
        return await _proposal(
            page, me, reader, request, proposal_id, error=error, form=fields, status_code=status
        )
    return RedirectResponse(f"/committee/proposals/{proposal_id}?done={done}", status_code=303)


@router.post("/proposals/{proposal_id}/vote", dependencies=[page_allow(*VOTERS)])
async def open_vote(
    proposal_id: ProposalId,
    request: Request,
    page: PageDep,
    me: WebUser,
    uow: Uow,
    reader: ReadSession,
    services: AppServices,
) -> Response:
    return await _vote_step(
        proposal_id, request, page, me, uow, reader, services, ElectorateIn, "vote_opened"
    )


@router.post("/proposals/{proposal_id}/tally", dependencies=[page_allow(*VOTERS)])
async def record_tally(
    proposal_id: ProposalId,
    request: Request,
    page: PageDep,
    me: WebUser,
    uow: Uow,
    reader: ReadSession,
    services: AppServices,
) -> Response:
    return await _vote_step(proposal_id, request, page, me, uow, reader, services, TallyIn, "tally")


@router.post("/proposals/{proposal_id}/emergency", dependencies=[page_allow(*VOTERS)])
async def emergency_decision(
    proposal_id: ProposalId,
    request: Request,
    page: PageDep,
    me: WebUser,
    uow: Uow,
    reader: ReadSession,
    services: AppServices,
) -> Response:
    return await _vote_step(
        proposal_id, request, page, me, uow, reader, services, CommitteeDecisionIn, "decided"
    )


# -- the monthly report ------------------------------------------------------------------


@router.get("/report", dependencies=[page_allow(*READERS)])
async def report(
    page: PageDep, reader: ReadSession, services: AppServices, month: Month = None
) -> HTMLResponse:
    """The report of ``month``; by default the last whole month."""
    return (await _report(page, reader, services, month))[0]


@router.get("/report.pdf", dependencies=[page_allow(*READERS)])
async def report_pdf(
    page: PageDep, reader: ReadSession, services: AppServices, month: Month = None
) -> Response:
    """The same report as a PDF (:mod:`api.web.pdf`), laid out in a thread."""
    html, chosen = await _report(page, reader, services, month)
    body = await asyncio.to_thread(pdf_of, bytes(html.body).decode())
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="estatewatch-report-{chosen}.pdf"'},
    )


async def _report(
    page: Page, reader: ReadSession, services: AppServices, month: str | None
) -> tuple[HTMLResponse, str]:
    """The report page of ``month`` (default: the last whole month) and the month."""
    now = services.clock()
    chosen = month or month_of(now.replace(day=1) - timedelta(days=1), "UTC")
    content, telemetry = await with_telemetry(
        services.influx,
        lambda influx: monthly_report(
            reader, chosen, now=now, policy=services.sla_policy, reader=influx
        ),
    )
    html = page.render(
        "committee/report.html",
        {
            "report": content,
            "month": chosen,
            "telemetry": telemetry,
            "category_names": CATEGORY_NAMES,
            "site_tz": DEFAULT_TIMEZONE,
        },
    )
    return html, chosen
