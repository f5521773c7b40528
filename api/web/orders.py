"""What the technician's and the resident's order pages share: one order as the person
may see it, its timeline, its photos, and the words for statuses and actions.

An order is read with the JSON API's own view (:meth:`WorkOrderOut.of`, the resident's
view without private staff notes) under the caller's scope (:mod:`api.visibility`), so a
page never shows what ``/api/v1`` would refuse; one they may not see is the 404 page.
Photos are served to pages at ``/orders/{id}/photos/{photo_id}[/thumbnail]`` with the
session (the JSON API's photo routes want a bearer token), by the same code.

Forms: :func:`refusal` turns what a service refused into a message in the page's
language; a page re-renders its form with it (status 422, or 200 for htmx, which swaps
only successful answers).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from fastapi import Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from api.deps import Clock, Photos, Principal, ReadSession, Settings, Uow
from api.routes.photos import PhotoId, photo_file, read_upload
from api.routes.work_orders import OrderId, release
from api.schemas.work_orders import HistoryOut, WorkOrderOut
from api.users import ROLES, User
from api.visibility import can_see_order, order_scope
from api.web.deps import Page, WebUser, page_allow, page_router
from api.web.i18n import N_
from api.web.sessions import CSRF_FIELD
from estatewatch.clock import Clock as ClockFn
from maintenance import services
from maintenance.db.read.notifications import NotificationView, order_notifications
from maintenance.db.read.photos import order_photos
from maintenance.db.read.work_orders import order_detail
from maintenance.domain import commands as cmd
from maintenance.domain.errors import (
    DomainError,
    IllegalTransition,
    NotAssignable,
    NotFound,
    NotPermitted,
    PhotoRejected,
    PhotoTooLarge,
)
from maintenance.domain.photos import Photo
from maintenance.domain.sla import SlaPolicy
from maintenance.domain.workorders import Resolution, Status

__all__ = [
    "ACTION_NAMES",
    "CHAIN_NAMES",
    "RESOLUTION_NAMES",
    "STAGE_NAMES",
    "STATUS_NAMES",
    "FormAction",
    "OrderPage",
    "TimelineItem",
    "act_from_form",
    "add_photos",
    "filled_fields",
    "hx_status",
    "load_order",
    "order_page_context",
    "perform_as",
    "photo_router",
    "refusal",
    "technicians_by_site",
]

# An order closed as self-cleared (Resolution): said beside its status.
RESOLUTION_NAMES: Final[dict[str, str]] = {
    Resolution.SELF_CLEARED: N_("cleared by itself"),
}

STATUS_NAMES: Final[dict[str, str]] = {
    Status.NEW: N_("New"),
    Status.ASSIGNED: N_("Assigned"),
    Status.ACKNOWLEDGED: N_("Acknowledged"),
    Status.IN_PROGRESS: N_("In progress"),
    Status.ON_HOLD: N_("On hold"),
    Status.AWAITING_APPROVAL: N_("Awaiting approval"),
    Status.APPROVED: N_("Approved"),
    Status.REJECTED: N_("Spending rejected"),
    Status.RESOLVED: N_("Resolved"),
    Status.VERIFIED: N_("Verified"),
    Status.CLOSED: N_("Closed"),
    Status.REOPENED: N_("Reopened"),
    Status.CANCELLED: N_("Cancelled"),
}

# The history's actions (``work_order.<action>``) as the timeline names them.
ACTION_NAMES: Final[dict[str, str]] = {
    "created": N_("Reported"),
    "assign": N_("Assigned to a technician"),
    "acknowledge": N_("Technician acknowledged"),
    "start": N_("Work started"),
    "hold": N_("Put on hold"),
    "resume": N_("Work resumed"),
    "request_approval": N_("Spending sent for approval"),
    "approve": N_("Spending approved"),
    "reject": N_("Spending rejected"),
    "resolve": N_("Resolved"),
    "verify": N_("Fix confirmed"),
    "fail_verification": N_("Fix disputed: reopened"),
    "close": N_("Closed"),
    "cancel": N_("Cancelled"),
    "rate": N_("Rated"),
    "comment": N_("Note"),
    "set_cost": N_("Cost recorded"),
    "alarm_attached": N_("Alarm linked"),
    "priority_raised": N_("Priority raised"),
    "escalated": N_("Escalated"),
    "photo": N_("Photo added"),
    "arrive": N_("Arrived on site"),
    "release": N_("Passengers released"),
    "return_to_service": N_("Car back in service"),
    "false_alarm": N_("Marked a false alarm"),
    "self_cleared": N_("Closed: the alarm cleared before anyone acknowledged it"),
}

# A rescue order's timeline (maintenance.domain.rescue.Stage) and escalation chain.
STAGE_NAMES: Final[dict[str, str]] = {
    "reported": N_("Reported"),
    "responded": N_("Responded"),
    "arrived": N_("Arrived on site"),
    "released": N_("Passengers released"),
    "back_in_service": N_("Back in service"),
    "false_alarm": N_("False alarm"),
}
CHAIN_NAMES: Final[dict[str, str]] = {
    "backup_maintainer": N_("Backup maintainer"),
    "emergency_services": N_("Emergency services"),
}

CLOCK_NAMES: Final[dict[str, str]] = {
    "response": N_("Response"),
    "feedback": N_("Feedback"),
    "resolution": N_("Resolution"),
}


@dataclass(frozen=True, slots=True)
class TimelineItem:
    at: datetime
    action: str  # a key of ACTION_NAMES
    role: str | None  # the actor's role, shown instead of their name to residents
    who: str | None  # the actor's username (staff pages)
    text: str | None  # a reason, a note, a comment
    photo: Photo | None = None


@dataclass(frozen=True, slots=True)
class OrderPage:
    order: WorkOrderOut
    photos: list[Photo]
    notifications: Sequence[NotificationView] = ()
    """Who was told about the order (staff pages only)."""

    @property
    def notified(self) -> dict[str, int]:
        """How many notifications are sent, waiting and failed."""
        counts = Counter(each.status for each in self.notifications)
        return {"sent": counts["sent"], "waiting": counts["pending"], "failed": counts["failed"]}

    @property
    def timeline(self) -> list[TimelineItem]:
        """History and photos, newest first."""
        items = [_item(entry) for entry in self.order.history]
        items += [
            TimelineItem(p.at, "photo", None, p.uploaded_by, p.caption, p) for p in self.photos
        ]
        return sorted(items, key=lambda item: item.at, reverse=True)


def _item(entry: HistoryOut) -> TimelineItem:
    role, _, who = entry.actor.partition(":")
    action = entry.action.removeprefix("work_order.")
    known_role = role if role in ROLES else None
    return TimelineItem(entry.at, action, known_role, who or None, entry.reason)


async def load_order(
    reader: AsyncSession, order_id: str, me: Principal, clock: ClockFn, sla: SlaPolicy
) -> OrderPage | None:
    """The order, its photos and (for staff) who was told about it, as ``me`` may see
    them; None when they may not."""
    scope = order_scope(me.user)
    detail = await order_detail(reader, order_id, policy=sla, now=clock(), visible=scope)
    photos = await order_photos(reader, order_id, visible=scope) if detail else None
    resident = me.user.role == "resident"
    told = None if resident else await order_notifications(reader, order_id, visible=scope)
    await release(reader)
    if detail is None or photos is None:
        return None
    view = WorkOrderOut.of(detail, for_resident=resident)
    return OrderPage(view, photos, told or ())


def order_page_context(found: OrderPage, now: datetime, error: str | None) -> dict[str, Any]:
    """What ``orders/order.html`` shows of the order; the route adds its own parts (the
    back link, where the forms post, the actions it offers and their labels)."""
    return {
        "view": found,
        "order": found.order,
        "now": now,
        "error": error,
        "status_names": STATUS_NAMES,
        "resolution_names": RESOLUTION_NAMES,
        "action_names": ACTION_NAMES,
        "clock_names": CLOCK_NAMES,
        "stage_names": STAGE_NAMES,
        "chain_names": CHAIN_NAMES,
    }


async def add_photos(
    uploads: list[UploadFile],
    order_id: str,
    me: Principal,
    uow: Uow,
    clock: Clock,
    store: Photos,
    settings: Settings,
) -> None:
    """Each chosen file as a photo of the order (empty file inputs are skipped)."""
    for upload in uploads:
        if not upload.filename and not upload.size:
            continue
        data = await read_upload(upload, settings.photo_max_bytes)
        await services.add_photo(
            uow,
            store,
            order_id,
            data,
            me.actor,
            clock,
            max_bytes=settings.photo_max_bytes,
            visible=lambda order: can_see_order(me.user, order),
        )


async def perform_as(
    me: Principal, command: cmd.OrderCommand, uow: Uow, clock: Clock, sla: SlaPolicy
) -> services.OrderResult:
    """Run ``command`` as the person on the page, on an order they may see (else NotFound),
    exactly as the JSON API's route for the same action does."""
    return await services.perform(
        uow, command, me.actor, clock, sla, visible=lambda order: can_see_order(me.user, order)
    )


FormAction = tuple[type[BaseModel] | None, Callable[[str, Any], cmd.OrderCommand]]
"""An order page's form: the JSON API's body model for its fields (None: no fields) and
the command it builds from the order id and that body."""


async def act_from_form(
    request: Request,
    action: FormAction,
    order_id: str,
    me: Principal,
    page: Page,
    uow: Uow,
    clock: Clock,
    sla: SlaPolicy,
    settings: Settings,
    photos: Photos | None = None,
) -> str | None:
    """Run the posted form's action as ``me`` (:func:`perform_as`), the photos chosen
    in it stored first when ``photos`` is given; the refusal in the page's language, or
    None when it was done. An order they may not see stays the 404 (NotFound)."""
    model, build = action
    form = await request.form()
    try:
        body = model.model_validate(filled_fields(form)) if model is not None else None
        if photos is not None:
            chosen = [f for f in form.getlist("photos") if isinstance(f, UploadFile)]
            await add_photos(chosen, order_id, me, uow, clock, photos, settings)
        await perform_as(me, build(order_id, body), uow, clock, sla)
    except NotFound:
        raise
    except (DomainError, ValidationError) as exc:
        return refusal(page, exc, settings)
    return None


def technicians_by_site(people: list[User]) -> dict[str, list[User]]:
    """Active technicians by the sites they work at: whom an order may be assigned to."""
    by_site: dict[str, list[User]] = {}
    for person in people:
        if person.role == "technician" and person.active:
            for site in person.sites:
                by_site.setdefault(site, []).append(person)
    return by_site


# Why an order cannot go to someone (NotAssignable.reason), as a manager reads it.
_NOT_ASSIGNABLE: Final[dict[str, str]] = {
    "unknown": N_("There is no one called %(name)s: the order was not assigned."),
    "inactive": N_("%(name)s's account is deactivated: choose someone else."),
    "role": N_("%(name)s does not work orders: choose a technician."),
    "site": N_("%(name)s does not work at this order's compound: choose one of its technicians."),
}


def refusal(page: Page, exc: DomainError | ValidationError, settings: Settings) -> str:
    """What a service refused, in the page's language."""
    if isinstance(exc, PhotoTooLarge):
        megabytes = settings.photo_max_bytes // (1024 * 1024)
        return page.gettext("The photo is larger than %(mb)s MB.", mb=megabytes)
    if isinstance(exc, PhotoRejected):
        return page.gettext("That file is not a photo we can take: choose a JPEG, PNG or WebP.")
    if isinstance(exc, IllegalTransition):
        return page.gettext("The order has moved on meanwhile; this step is no longer possible.")
    if isinstance(exc, NotPermitted):
        return page.gettext("You may not do this on this order.")
    if isinstance(exc, NotAssignable):
        return page.gettext(_NOT_ASSIGNABLE[exc.reason], name=exc.username)
    if isinstance(exc, ValidationError):
        return page.gettext("Please check what you entered: something is missing or too long.")
    return page.gettext("This could not be done: %(reason)s", reason=str(exc))


def filled_fields(form: Any) -> dict[str, str]:
    """A posted form's non-empty text fields, stripped (an empty field is no value)."""
    return {
        key: value.strip()
        for key, value in form.items()
        if isinstance(value, str) and value.strip() and key != CSRF_FIELD
    }


def hx_status(request: Request) -> int:
    """A refused form's status: 422, but 200 for htmx, which swaps only 2xx answers."""
    return 200 if "hx-request" in request.headers else 422


photo_router = page_router()
_EVERYONE = page_allow(*ROLES)


@photo_router.get("/orders/{order_id}/photos/{photo_id}", dependencies=[_EVERYONE])
async def photo(
    order_id: OrderId, photo_id: PhotoId, me: WebUser, reader: ReadSession, store: Photos
) -> FileResponse:
    return await photo_file(reader, store, me, order_id, photo_id, thumbnail=False)


@photo_router.get("/orders/{order_id}/photos/{photo_id}/thumbnail", dependencies=[_EVERYONE])
async def thumbnail(
    order_id: OrderId, photo_id: PhotoId, me: WebUser, reader: ReadSession, store: Photos
) -> FileResponse:
    return await photo_file(reader, store, me, order_id, photo_id, thumbnail=True)
