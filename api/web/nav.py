"""The header's navigation and each role's home page: one table, read by the layout and
by ``/``. A page that belongs in a role's menu adds a :class:`NavItem` here; ``/`` sends a
role after login to its :data:`HOMES` entry, else to the first item it may see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from api.routes.committee import READERS as COMMITTEE_READERS
from api.users import ROLES
from api.visibility import SEE_ALL
from api.web.i18n import N_
from api.web.qr import QR_ROLES
from maintenance.domain.actors import Role

__all__ = ["HOMES", "NAV", "ROLE_NAMES", "NavItem", "home_of", "nav_for", "order_path"]


@dataclass(frozen=True, slots=True)
class NavItem:
    path: str
    label: str  # an English msgid, translated by the layout
    roles: frozenset[Role]


_STAFF: Final[frozenset[Role]] = frozenset({"admin", "manager"})

NAV: Final[tuple[NavItem, ...]] = (
    NavItem("/tech", N_("My orders"), frozenset({"technician"})),
    NavItem("/report", N_("Report a problem"), frozenset({"resident"})),
    NavItem("/my/requests", N_("My requests"), frozenset({"resident"})),
    NavItem("/board", N_("Duty board"), _STAFF),
    NavItem("/admin/users", N_("Users"), _STAFF),
    NavItem("/admin/invites", N_("Invites"), _STAFF),
    NavItem("/admin/tokens", N_("API tokens"), frozenset({"admin"})),
    NavItem("/admin/sites", N_("Sites"), _STAFF),
    NavItem("/admin/quarantine", N_("Quarantine"), _STAFF),
    NavItem("/supervise", N_("To verify"), frozenset({"supervisor"})),
    NavItem("/committee", N_("Committee"), frozenset(COMMITTEE_READERS)),
    NavItem("/qr", N_("QR sheets"), frozenset(QR_ROLES)),
    NavItem("/account", N_("My account"), frozenset(ROLES)),
)


def nav_for(role: Role) -> list[NavItem]:
    return [item for item in NAV if role in item.roles]


# Where a role's day starts when that is not its first menu item: an admin manages people;
# a manager, who has the same menu, starts at the duty board.
HOMES: Final[dict[Role, str]] = {"admin": "/admin/users"}


def home_of(role: Role) -> str:
    """Where ``/`` sends a logged-in person of ``role``: :data:`HOMES`, else the first
    menu item the role may see."""
    if role in HOMES:
        return HOMES[role]
    items = nav_for(role)
    return items[0].path if items else "/account"


def order_path(role: Role, order_id: str) -> str:
    """The page where a person of ``role`` opens an order: the technician's and the
    resident's own pages, staff's ``/orders/{id}`` (:mod:`api.web.routes.staff_orders`)."""
    if role == "technician":
        return f"/tech/orders/{order_id}"
    if role in SEE_ALL:
        return f"/orders/{order_id}"
    return f"/my/requests/{order_id}"


ROLE_NAMES: Final[dict[Role, str]] = {
    "admin": N_("Administrator"),
    "manager": N_("Property manager"),
    "technician": N_("Technician"),
    "committee": N_("Owners' committee"),
    "supervisor": N_("Supervisor"),
    "resident": N_("Resident"),
}
"""Each role's name as people read it (msgids)."""
