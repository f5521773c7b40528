"""One-time links for people: an invite (makes an account) and a password reset.

Who may invite or reset whom is :func:`api.users.may_manage`: an admin anyone, a manager
the roles they work with at their own sites. A link is a
random secret (shown once, in the link and its QR code); the ``web_invite`` row keeps its
SHA-256, what it is for, who made it and when it expires. :func:`accept` uses it once:
it claims the row (``used_at``, set only where it was unset, so two tabs cannot both use
it), then creates the user with their chosen username, name and password, or sets the
new password and ends the user's web sessions, all in one transaction with its audit
entries (``invite.created``, ``invite.used``, ``user.created``, ``user.password_set``).

Errors: :class:`~maintenance.domain.errors.NotPermitted` (a role or site the creator may
not hand out), :class:`~maintenance.domain.errors.NotFound` (an unknown, used or expired
link: one answer for all three), :class:`~maintenance.domain.errors.InvalidRequest` (a
weak password, a bad username), :class:`api.errors.Conflict` (the username is taken).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.passwords import hash_password, weakness
from api.token_secrets import hash_secret
from api.users import (
    ROLES,
    NewUser,
    User,
    add_user_row,
    check_fits_role,
    may_manage,
    user_from_row,
)
from api.web.i18n import N_
from maintenance.db.uow import SqlUnitOfWork
from maintenance.db.user_tables import UserRow
from maintenance.db.web_tables import InviteRow
from maintenance.domain.actors import Role
from maintenance.domain.audit import AuditEntry
from maintenance.domain.errors import InvalidRequest, NotFound, NotPermitted
from maintenance.domain.events import JsonValue

__all__ = [
    "BAD_USERNAME",
    "INVITE_PATH",
    "Invite",
    "IssuedLink",
    "accept",
    "create_invite",
    "create_reset",
    "find",
    "list_invites",
]

INVITE_PATH: Final = "/invite/"

Kind = Literal["invite", "reset"]
BAD_USERNAME: Final = N_("A username is 2 to 64 lower-case letters, digits, '.', '_' or '-'.")


@dataclass(frozen=True, slots=True)
class Invite:
    id: int
    kind: Kind
    role: Role | None
    sites: tuple[str, ...]
    building: str | None
    unit: str | None
    username: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedLink:
    invite: Invite
    secret: str  # the only copy: in the link, never stored

    def url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}{INVITE_PATH}{self.secret}"


def _invite(row: InviteRow) -> Invite:
    kind: Kind = "reset" if row.kind == "reset" else "invite"
    role: Role | None = next((r for r in ROLES if r == row.role), None)
    return Invite(
        row.id,
        kind,
        role,
        tuple(row.sites),
        row.building,
        row.unit,
        row.username,
        row.created_by,
        row.created_at,
        row.expires_at,
        row.used_at,
    )


async def _issue(uow: SqlUnitOfWork, row: InviteRow, at: datetime) -> IssuedLink:
    secret = secrets.token_urlsafe(32)
    row.token_hash = hash_secret(secret)
    async with uow:
        await uow.accounts.add_invite(row)
        await uow.accounts.record(
            AuditEntry(
                at=at,
                actor=row.created_by,
                action="invite.created",
                entity_type="invite",
                entity_id=str(row.id),
                detail={"kind": row.kind, "role": row.role, "user": row.username},
            )
        )
        issued = IssuedLink(_invite(row), secret)
        await uow.commit()
    return issued


async def create_invite(
    uow: SqlUnitOfWork,
    creator: User,
    *,
    role: Role,
    sites: list[str],
    building: str | None,
    unit: str | None,
    at: datetime,
    lifetime: timedelta,
) -> IssuedLink:
    check_fits_role(role, sites, building, unit)
    if not may_manage(creator, role, sites):
        raise NotPermitted(f"{creator.username} ({creator.role}) may not invite a {role}")
    row = InviteRow(
        kind="invite",
        role=role,
        sites=list(sites),
        building=building or None,
        unit=unit or None,
        created_by=creator.audit_name,
        created_at=at,
        expires_at=at + lifetime,
    )
    return await _issue(uow, row, at)


async def create_reset(
    uow: SqlUnitOfWork, creator: User, target: User, *, at: datetime, lifetime: timedelta
) -> IssuedLink:
    if not may_manage(creator, target.role, target.sites):
        raise NotPermitted(f"{creator.username} may not reset {target.username}'s password")
    row = InviteRow(
        kind="reset",
        sites=[],
        username=target.username,
        created_by=creator.audit_name,
        created_at=at,
        expires_at=at + lifetime,
    )
    return await _issue(uow, row, at)


async def find(session: AsyncSession, secret: str, now: datetime) -> Invite:
    """The live link behind ``secret``; NotFound when unknown, used or expired."""
    row = await session.scalar(select(InviteRow).where(InviteRow.token_hash == hash_secret(secret)))
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise NotFound("this link is unknown, used or expired")
    return _invite(row)


async def list_invites(session: AsyncSession, now: datetime) -> list[Invite]:
    """Links not yet used, the newest first (expired ones too, to see what lapsed)."""
    rows = await session.scalars(
        select(InviteRow)
        .where(InviteRow.used_at.is_(None), InviteRow.expires_at > now - timedelta(days=30))
        .order_by(InviteRow.created_at.desc())
        .limit(200)
    )
    return [_invite(row) for row in rows]


async def accept(
    uow: SqlUnitOfWork,
    secret: str,
    *,
    password: str,
    username: str | None,
    display_name: str | None,
    at: datetime,
) -> User:
    """Use the link: the new user (invite) or the user whose password was set (reset)."""
    async with uow:
        row = await uow.accounts.invite(hash_secret(secret))
        if row is None or row.used_at is not None or row.expires_at <= at:
            raise NotFound("this link is unknown, used or expired")
        if row.kind == "reset":
            user_row = await _reset(uow, row, password, at)
            action = "user.password_set"
            detail: dict[str, JsonValue] = {"invite": row.id}
        else:
            user_row = await _join(uow, row, username or "", display_name, password, at)
            action = "user.created"
            detail = {"role": user_row.role, "sites": user_row.sites, "invite": row.id}
        actor = f"{user_row.role}:{user_row.username}"
        for entry_action, entity_type, entity_id, entry_detail in (
            ("invite.used", "invite", str(row.id), {"user": user_row.username}),
            (action, "user", user_row.username, detail),
        ):
            await uow.accounts.record(
                AuditEntry(
                    at=at,
                    actor=actor,
                    action=entry_action,
                    entity_type=entity_type,
                    entity_id=entity_id,
                    detail=entry_detail,
                )
            )
        user = user_from_row(user_row)
        await uow.commit()
    return user


async def _claim(
    uow: SqlUnitOfWork, row: InviteRow, password: str, username: str, at: datetime
) -> str:
    """Check the password, then take the link (once); the password's hash."""
    reason = weakness(password, username)
    if reason is not None:
        raise InvalidRequest(reason)
    if not await uow.accounts.claim_invite(row.id, at):
        raise NotFound("this link is unknown, used or expired")
    return hash_password(password)


async def _reset(uow: SqlUnitOfWork, row: InviteRow, password: str, at: datetime) -> UserRow:
    user_row = await uow.accounts.user(row.username or "")
    if user_row is None or not user_row.active:
        raise NotFound("this link is unknown, used or expired")
    user_row.password_hash = await _claim(uow, row, password, user_row.username, at)
    await uow.accounts.revoke_sessions(user_row.id, at)
    return user_row


async def _join(
    uow: SqlUnitOfWork,
    row: InviteRow,
    username: str,
    display_name: str | None,
    password: str,
    at: datetime,
) -> UserRow:
    role = next((r for r in ROLES if r == row.role), None)
    if role is None:  # the CHECK constraint and create_invite make this unreachable
        raise NotFound("this link is unknown, used or expired")
    try:
        new = NewUser(
            username=username,
            role=role,
            display_name=display_name or None,
            sites=row.sites,
            building=row.building,
            unit=row.unit,
        )
    except ValidationError as exc:
        raise InvalidRequest(BAD_USERNAME) from exc
    password_hash = await _claim(uow, row, password, new.username, at)
    return await add_user_row(uow, new, at=at, password_hash=password_hash)
