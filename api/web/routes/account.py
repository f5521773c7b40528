"""``/``: each role's home page; ``/account``: who I am, my language, log out everywhere."""

from __future__ import annotations

from fastapi.responses import RedirectResponse, Response

from api.users import ROLES
from api.web.deps import PageDep, WebUser, page_allow, page_router
from api.web.nav import home_of

__all__ = ["router"]

router = page_router()


@router.get("/", dependencies=[page_allow(*ROLES)])
async def home(me: WebUser) -> Response:
    return RedirectResponse(home_of(me.user.role), status_code=303)


@router.get("/account", dependencies=[page_allow(*ROLES)])
async def account(me: WebUser, page: PageDep) -> Response:
    return page.render("account.html", {"me": me.user})
