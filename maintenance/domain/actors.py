"""Who does something: a user id and the role they act in.

The API enforces which roles may call which route; the domain enforces only the rules the
issue states (a resolver never verifies; verification by a supervisor or the requesting
resident; approval by the committee or an admin; rating by the requesting resident).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["admin", "manager", "technician", "committee", "supervisor", "resident"]

STAFF_ROLES: frozenset[Role] = frozenset({"admin", "manager", "technician"})
"""Roles whose visible notes count as feedback to the requester."""


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: str
    role: Role

    def __str__(self) -> str:
        return f"{self.user_id} ({self.role})"

    @property
    def audit_name(self) -> str:
        """How the audit trail and stored records name the actor: ``role:user_id``."""
        return f"{self.role}:{self.user_id}"
