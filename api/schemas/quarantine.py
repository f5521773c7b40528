"""Request and response bodies for the quarantine of unknown senders."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from estatewatch.wire import NAME_PATTERN
from maintenance.db.read.quarantine import QuarantineEntry
from maintenance.sites import ChargerCabinet, Device, Elevator, SmokeAlarm

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


class RegisterIn(BaseModel):
    """What registering an entry needs: nothing for a gateway; for a device, the building
    it is in and its facts as the site file gives them (exactly one of ``elevator``,
    ``charger_cabinet``, ``smoke_alarm``, its ``name`` the entry's device id)."""

    model_config = ConfigDict(extra="forbid")

    building: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=64)
    elevator: Elevator | None = None
    charger_cabinet: ChargerCabinet | None = None
    smoke_alarm: SmokeAlarm | None = None

    @model_validator(mode="after")
    def _one_device(self) -> Self:
        given = [d for d in (self.elevator, self.charger_cabinet, self.smoke_alarm) if d]
        if len(given) > 1:
            raise ValueError("give one of elevator, charger_cabinet, smoke_alarm, not several")
        if given and self.building is None:
            raise ValueError("a device needs the building it is in")
        return self

    def device(self) -> Device | None:
        return self.elevator or self.charger_cabinet or self.smoke_alarm
