"""Users and their tokens: create, list, issue, revoke, for the CLI and the admin routes.

Changes (:func:`create_user`, :func:`issue_token`, :func:`revoke_token`) go through a
unit of work (its ``accounts`` repository, :mod:`maintenance.db.accounts`), which each
opens and commits: a change and its audit entry (entity types ``user`` and
``api_token``) land together. Reads (:func:`get_user`, :func:`list_users`,
:func:`list_tokens`) take a plain, read-only session. A secret is returned once, in
:class:`IssuedToken`, and never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Self, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Conflict
from api.passwords import hash_password, weakness
from api.schemas.notify_settings import Email
from api.token_secrets import hash_secret, new_secret
from maintenance.db.uow import SqlUnitOfWork
from maintenance.db.user_tables import TokenRow, UserRow
from maintenance.domain.actors import Actor, Role
from maintenance.domain.audit import AuditEntry
from maintenance.domain.errors import InvalidRequest, NotFound, NotPermitted
from maintenance.domain.preferences import Preferences

__all__ = [
    "MANAGER_MAY",
    "ROLES",
    "IssuedToken",
    "NewUser",
    "TokenInfo",
    "User",
    "add_user_row",
    "change_user",
    "check_fits_role",
    "create_user",
    "get_user",
    "issue_token",
    "list_tokens",
    "list_users",
    "may_manage",
    "notify_settings",
    "revoke_token",
    "set_active",
    "set_email",
    "set_locale",
    "set_notify_settings",
    "set_password",
    "user_from_row",
]

ROLES: tuple[Role, ...] = get_args(Role)
MANAGER_MAY: frozenset[Role] = frozenset({"technician", "supervisor", "committee", "resident"})
"""The roles a manager invites, resets and deactivates (never an admin or a manager)."""

Username = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$", strip_whitespace=True)
]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]


class NewUser(BaseModel):
    """A user to create. Technicians name the sites they work at; residents their unit."""

    model_config = ConfigDict(extra="forbid")

    username: Username = Field(description="lower-case letters, digits, '.', '_', '-'")
    role: Role
    display_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    sites: list[Code] = Field(default_factory=list, max_length=100)
    building: Code | None = None
    unit: Code | None = None
    email: Email | None = Field(default=None, description="where notices are mailed")

    @model_validator(mode="after")
    def _fits_role(self) -> Self:
        if self.role == "resident" and self.unit is None:
            raise ValueError("a resident needs the unit they live in")
        if self.role != "resident" and (self.building or self.unit):
            raise ValueError(f"building and unit are for residents, not a {self.role}")
        return self


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    display_name: str
    role: Role
    sites: tuple[str, ...]
    building: str | None
    unit: str | None
    active: bool
    locale: str | None = None  # the web app's language for this person; None: the browser's

    @property
    def actor(self) -> Actor:
        return Actor(self.username, self.role)

    @property
    def audit_name(self) -> str:
        """How the audit trail names this user, as it names domain actors."""
        return f"{self.role}:{self.username}"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: everything but the secret, which is not kept."""

    id: int
    username: str
    label: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    info: TokenInfo
    secret: str


def user_from_row(row: UserRow) -> User:
    if row.role not in ROLES:  # the CHECK constraint makes this unreachable but for edits
        raise InvalidRequest(f"user {row.username} has an unknown role {row.role!r}")
    role: Role = row.role
    return User(
        row.id,
        row.username,
        row.display_name,
        role,
        tuple(row.sites),
        row.building,
        row.unit,
        row.active,
        row.locale,
    )


def _token_info(row: TokenRow, username: str) -> TokenInfo:
    return TokenInfo(
        row.id,
        username,
        row.label,
        row.created_at,
        row.expires_at,
        row.revoked_at,
        row.last_used_at,
    )


async def add_user_row(
    uow: SqlUnitOfWork, new: NewUser, *, at: datetime, password_hash: str | None = None
) -> UserRow:
    """Insert ``new`` in an entered unit of work; :class:`Conflict` when the name is taken."""
    if await uow.accounts.user(new.username) is not None:
        raise Conflict(f"user {new.username} already exists")
    row = UserRow(
        username=new.username,
        display_name=new.display_name or new.username,
        role=new.role,
        sites=list(new.sites),
        building=new.building,
        unit=new.unit,
        active=True,
        created_at=at,
        password_hash=password_hash,
        email=new.email,
    )
    try:
        await uow.accounts.add_user(row)
    except IntegrityError as exc:  # a concurrent request took the name first
        raise Conflict(f"user {new.username} already exists") from exc
    return row


async def create_user(uow: SqlUnitOfWork, new: NewUser, *, actor: str, at: datetime) -> User:
    """Add a user; :class:`Conflict` when the username is taken."""
    async with uow:
        row = await add_user_row(uow, new, at=at)
        await uow.accounts.record(
            AuditEntry(
                at=at,
                actor=actor,
                action="user.created",
                entity_type="user",
                entity_id=new.username,
                detail={"role": new.role, "sites": list(new.sites), "unit": new.unit},
            )
        )
        user = user_from_row(row)
        await uow.commit()
    return user


async def get_user(session: AsyncSession, username: str) -> User:
    row = await session.scalar(select(UserRow).where(UserRow.username == username))
    if row is None:
        raise NotFound(f"no user {username}")
    return user_from_row(row)


async def list_users(session: AsyncSession) -> list[User]:
    rows = await session.scalars(select(UserRow).order_by(UserRow.username))
    return [user_from_row(row) for row in rows]


async def issue_token(
    uow: SqlUnitOfWork,
    username: str,
    *,
    expires_at: datetime,
    label: str | None,
    actor: str,
    at: datetime,
) -> IssuedToken:
    """A new token for ``username``; the returned secret is the only copy."""
    if expires_at <= at:
        raise InvalidRequest(f"a token for {username} must expire after {at.isoformat()}")
    secret = new_secret()
    async with uow:
        user = await uow.accounts.user(username)
        if user is None:
            raise NotFound(f"no user {username}")
        row = TokenRow(
            user_id=user.id,
            token_hash=hash_secret(secret),
            label=label,
            created_at=at,
            expires_at=expires_at,
        )
        await uow.accounts.add_token(row)
        await uow.accounts.record(
            AuditEntry(
                at=at,
                actor=actor,
                action="api_token.created",
                entity_type="api_token",
                entity_id=str(row.id),
                detail={"user": username, "label": label, "expires_at": expires_at.isoformat()},
            )
        )
        info = _token_info(row, username)
        await uow.commit()
    return IssuedToken(info, secret)


async def set_password(
    uow: SqlUnitOfWork, username: str, password: str, *, actor: str, at: datetime
) -> None:
    """Set ``username``'s password (argon2) and end their web sessions, so a password
    changed because it leaked locks the old holder out; :class:`InvalidRequest` names
    what makes a weak password weak."""
    reason = weakness(password, username)
    if reason is not None:
        raise InvalidRequest(reason)
    hashed = hash_password(password)
    async with uow:
        row = await uow.accounts.user(username)
        if row is None:
            raise NotFound(f"no user {username}")
        row.password_hash = hashed
        await uow.accounts.revoke_sessions(row.id, at)
        await uow.accounts.record(
            AuditEntry(
                at=at,
                actor=actor,
                action="user.password_set",
                entity_type="user",
                entity_id=username,
                detail={},
            )
        )
        await uow.commit()


def may_manage(creator: User, role: Role, sites: tuple[str, ...] | list[str] = ()) -> bool:
    """Whether ``creator`` may invite, reset or deactivate a ``role`` at ``sites``: an
    admin anyone; a manager the :data:`MANAGER_MAY` roles, at their own sites when they
    are given some."""
    if creator.role == "admin":
        return True
    if creator.role != "manager" or role not in MANAGER_MAY:
        return False
    return not creator.sites or set(sites) <= set(creator.sites)


def check_fits_role(role: Role, sites: list[str], building: str | None, unit: str | None) -> None:
    """:class:`InvalidRequest` when a ``role`` does not go with these sites and home (the
    rules of :class:`NewUser`: a resident needs a unit, only residents have one)."""
    try:
        NewUser(username="placeholder", role=role, sites=sites, building=building, unit=unit)
    except ValidationError as exc:
        raise InvalidRequest(exc.errors()[0]["msg"].removeprefix("Value error, ")) from exc


async def _managed_row(uow: SqlUnitOfWork, creator: User, username: str) -> UserRow:
    """``username``'s row, if ``creator`` may change them (never themselves)."""
    row = await uow.accounts.user(username)
    if row is None:
        raise NotFound(f"no user {username}")
    target = user_from_row(row)
    if not may_manage(creator, target.role, target.sites) or target.id == creator.id:
        raise NotPermitted(f"{creator.username} may not change {username}")
    return row


async def set_active(
    uow: SqlUnitOfWork, creator: User, username: str, active: bool, *, at: datetime
) -> User:
    """Deactivate (or reactivate) a user: a deactivated user's tokens and sessions stop
    working at once (both check ``active``)."""
    async with uow:
        row = await _managed_row(uow, creator, username)
        if row.active != active:
            row.active = active
            await uow.accounts.record(
                AuditEntry(
                    at=at,
                    actor=creator.audit_name,
                    action="user.activated" if active else "user.deactivated",
                    entity_type="user",
                    entity_id=username,
                    detail={},
                )
            )
        user = user_from_row(row)
        await uow.commit()
    return user


async def change_user(
    uow: SqlUnitOfWork,
    creator: User,
    username: str,
    *,
    role: Role,
    sites: list[str],
    building: str | None,
    unit: str | None,
    at: datetime,
) -> User:
    """A user's new role, sites and home, checked as a new user's are; ``creator`` must
    be allowed to manage both the old and the new role and sites. Takes effect on the
    user's next request (sessions and tokens read the row each time)."""
    check_fits_role(role, sites, building, unit)
    if not may_manage(creator, role, sites):
        raise NotPermitted(f"{creator.username} may not make {username} a {role} at {sites}")
    async with uow:
        row = await _managed_row(uow, creator, username)
        row.role, row.sites, row.building, row.unit = role, list(sites), building, unit
        await uow.accounts.record(
            AuditEntry(
                at=at,
                actor=creator.audit_name,
                action="user.changed",
                entity_type="user",
                entity_id=username,
                detail={"role": role, "sites": list(sites), "building": building, "unit": unit},
            )
        )
        user = user_from_row(row)
        await uow.commit()
    return user


async def set_locale(uow: SqlUnitOfWork, user_id: int, locale: str | None) -> None:
    """The user's language for the web app (a preference: not audited)."""
    async with uow:
        await uow.accounts.set_locale(user_id, locale)
        await uow.commit()


async def notify_settings(session: AsyncSession, username: str) -> Preferences:
    """``username``'s own notification settings."""
    row = await session.scalar(select(UserRow).where(UserRow.username == username))
    if row is None:
        raise NotFound(f"no user {username}")
    return row.preferences


async def set_notify_settings(
    uow: SqlUnitOfWork, username: str, settings: Preferences, *, actor: str, at: datetime
) -> None:
    """Store a user's own notification settings (their language too, which the web app
    shares). Audited, since they decide where notices go; the address itself is not
    written into the trail."""
    quiet = settings.quiet
    async with uow:
        row = await uow.accounts.user(username)
        if row is None:
            raise NotFound(f"no user {username}")
        row.email, row.chat_handle, row.locale = (
            settings.email,
            settings.chat_handle,
            settings.locale,
        )
        row.notify_email = "email" in settings.channels
        row.notify_chat = "chat" in settings.channels
        row.quiet_start = quiet.start if quiet is not None else None
        row.quiet_end = quiet.end if quiet is not None else None
        await uow.accounts.record(
            AuditEntry(
                at=at,
                actor=actor,
                action="user.notify_settings_changed",
                entity_type="user",
                entity_id=username,
                detail={
                    "channels": sorted(settings.channels),
                    "email_set": settings.email is not None,
                    "quiet_hours": None
                    if quiet is None
                    else f"{quiet.start:%H:%M}-{quiet.end:%H:%M}",
                },
            )
        )
        await uow.commit()


async def set_email(
    uow: SqlUnitOfWork, creator: User, username: str, email: str | None, *, at: datetime
) -> None:
    """A staff member's address, set by whoever may manage them (:func:`may_manage`)."""
    async with uow:
        row = await _managed_row(uow, creator, username)
        row.email = email
        await uow.accounts.record(
            AuditEntry(
                at=at,
                actor=creator.audit_name,
                action="user.email_set",
                entity_type="user",
                entity_id=username,
                detail={"email_set": email is not None},
            )
        )
        await uow.commit()


async def list_tokens(session: AsyncSession, username: str) -> list[TokenInfo]:
    user = await get_user(session, username)
    rows = await session.scalars(
        select(TokenRow).where(TokenRow.user_id == user.id).order_by(TokenRow.id)
    )
    return [_token_info(row, username) for row in rows]


async def revoke_token(uow: SqlUnitOfWork, token_id: int, *, actor: str, at: datetime) -> TokenInfo:
    """Revoke a token from now on; revoking twice keeps the first time and audits once."""
    async with uow:
        found = await uow.accounts.token(token_id)
        if found is None:
            raise NotFound(f"no token {token_id}")
        row, username = found
        if row.revoked_at is None:
            row.revoked_at = at
            await uow.accounts.record(
                AuditEntry(
                    at=at,
                    actor=actor,
                    action="api_token.revoked",
                    entity_type="api_token",
                    entity_id=str(row.id),
                    detail={"user": username},
                )
            )
        info = _token_info(row, username)
        await uow.commit()
    return info
