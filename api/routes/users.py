"""Users and tokens (admin only), and ``GET /me`` for everyone with a valid token.

A created token's secret is in the creation answer only; it is stored as a hash and no
route shows it again. Revoking answers 204 and takes effect on the next request.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from api import users
from api.deps import Clock, CurrentUser, ReadSession, Settings, Uow
from api.policy import allow, authenticated
from api.schemas.notify_settings import NotifySettingsIn, StaffEmail
from maintenance.domain.actors import Role

__all__ = ["router"]

router = APIRouter(tags=["users"])

_ADMIN = allow("admin")
UsernamePath = Annotated[str, Path(max_length=64)]


class UserOut(BaseModel):
    username: str
    display_name: str
    role: Role
    sites: list[str]
    building: str | None
    unit: str | None
    active: bool

    @classmethod
    def of(cls, user: users.User) -> UserOut:
        return cls(
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            sites=list(user.sites),
            building=user.building,
            unit=user.unit,
            active=user.active,
        )


class TokenOut(BaseModel):
    id: int
    username: str
    label: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, info: users.TokenInfo) -> TokenOut:
        return cls(
            id=info.id,
            username=info.username,
            label=info.label,
            created_at=info.created_at,
            expires_at=info.expires_at,
            revoked_at=info.revoked_at,
            last_used_at=info.last_used_at,
        )


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Annotated[str, Field(max_length=200)] | None = None
    expires_in_days: Annotated[int, Field(ge=1, le=3650)] | None = Field(
        default=None, description="default: the server's token lifetime (30 days)"
    )


class IssuedTokenOut(TokenOut):
    token: str = Field(description="the bearer secret; shown this once, never again")


@router.get("/me", dependencies=[authenticated()])
async def me(caller: CurrentUser) -> UserOut:
    """The caller's own user record."""
    return UserOut.of(caller.user)


@router.get("/me/notifications", dependencies=[authenticated()])
async def my_notifications(caller: CurrentUser, session: ReadSession) -> NotifySettingsIn:
    """Where and when notices reach the caller."""
    return NotifySettingsIn.of(await users.notify_settings(session, caller.user.username))


@router.put("/me/notifications", dependencies=[authenticated()])
async def set_my_notifications(
    new: NotifySettingsIn, caller: CurrentUser, uow: Uow, clock: Clock
) -> NotifySettingsIn:
    """Replace the caller's notification settings (all fields; 422 names a bad one)."""
    user = caller.user
    await users.set_notify_settings(
        uow, user.username, new.preferences, actor=user.audit_name, at=clock()
    )
    return new


@router.put("/users/{username}/email", dependencies=[allow("admin", "manager")])
async def set_staff_email(
    username: UsernamePath, new: StaffEmail, caller: CurrentUser, uow: Uow, clock: Clock
) -> StaffEmail:
    """A staff member's address for notices: an admin anyone's, a manager the people
    they manage (not their own: that is ``/me/notifications``)."""
    await users.set_email(uow, caller.user, username, new.email, at=clock())
    return new


@router.get("/users", dependencies=[_ADMIN])
async def list_users(session: ReadSession) -> list[UserOut]:
    return [UserOut.of(user) for user in await users.list_users(session)]


@router.post("/users", status_code=201, dependencies=[_ADMIN])
async def create_user(new: users.NewUser, caller: CurrentUser, uow: Uow, clock: Clock) -> UserOut:
    user = await users.create_user(uow, new, actor=caller.user.audit_name, at=clock())
    return UserOut.of(user)


@router.get("/users/{username}/tokens", dependencies=[_ADMIN])
async def list_tokens(username: UsernamePath, session: ReadSession) -> list[TokenOut]:
    return [TokenOut.of(info) for info in await users.list_tokens(session, username)]


@router.post("/users/{username}/tokens", status_code=201, dependencies=[_ADMIN])
async def create_token(
    username: UsernamePath,
    new: NewToken,
    caller: CurrentUser,
    uow: Uow,
    clock: Clock,
    settings: Settings,
) -> IssuedTokenOut:
    now = clock()
    lifetime = (
        timedelta(days=new.expires_in_days) if new.expires_in_days else settings.token_lifetime
    )
    issued = await users.issue_token(
        uow,
        username,
        expires_at=now + lifetime,
        label=new.label,
        actor=caller.user.audit_name,
        at=now,
    )
    return IssuedTokenOut(**TokenOut.of(issued.info).model_dump(), token=issued.secret)


@router.delete("/tokens/{token_id}", status_code=204, dependencies=[_ADMIN])
async def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**62)],
    caller: CurrentUser,
    uow: Uow,
    clock: Clock,
) -> Response:
    await users.revoke_token(uow, token_id, actor=caller.user.audit_name, at=clock())
    return Response(status_code=204)
