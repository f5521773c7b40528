"""Request and response bodies for the quarantine of unknown senders."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel

from maintenance.db.read.quarantine import QuarantineEntry
from maintenance.sites import Registration

__all__ = ["QuarantineOut", "QuarantineState", "RegisterIn"]

QuarantineState = Literal["held", "blocked", "registered"]


class QuarantineOut(BaseModel):
    """A device or gateway heard from but not in the asset register."""

    id: int
    site: str
    device_type: str
    """The wire's device type (``elevator``, ``charger``, ``smoke_alarm``), or ``gateway``."""
    device_id: str
    """The device id, or the gateway id for a gateway."""
    gateway_id: str
    """The gateway its last message came through."""
    first_seen: datetime
    last_seen: datetime
    messages: int
    """Messages turned away, counted on after a block."""
    sample: str
    """The last message's gist: kind, time, field names."""
    state: QuarantineState
    decided_by: str | None
    decided_at: datetime | None

    @classmethod
    def of(cls, entry: QuarantineEntry) -> Self:
        return cls.model_validate(entry, from_attributes=True)


class RegisterIn(Registration):
    """What registering an entry needs: nothing for a gateway; for a device, the building
    it is in and its facts as the site file gives them (exactly one of ``elevator``,
    ``charger_cabinet``, ``smoke_alarm``, its ``name`` the entry's device id)."""
