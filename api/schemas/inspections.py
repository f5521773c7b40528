"""Request and response bodies for elevator inspections."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from estatewatch.wire import NAME_PATTERN
from maintenance.domain.inspections import (
    CarInspection,
    Certificate,
    InspectionStatus,
    default_valid_until,
)

__all__ = ["InspectionIn", "InspectionOut", "RecordedOut"]

Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]


class InspectionIn(BaseModel):
    """An inspection to record; ``valid_until`` defaults to a year less a day."""

    model_config = ConfigDict(extra="forbid")

    site: Name
    device_id: Name
    inspected_on: date
    valid_until: date | None = None
    """The certificate's last valid day."""
    certificate_number: Annotated[str, Field(min_length=1, max_length=100)] | None = None

    @model_validator(mode="after")
    def _valid_after_inspection(self) -> Self:
        if self.valid_until is not None and self.valid_until < self.inspected_on:
            raise ValueError(
                f"valid_until {self.valid_until} is before inspected_on {self.inspected_on}"
            )
        return self

    def certificate(self) -> Certificate:
        until = self.valid_until or default_valid_until(self.inspected_on)
        return Certificate(self.inspected_on, until, self.certificate_number)


class InspectionOut(BaseModel):
    """A car's current certificate and its status on the site's today."""

    site: str
    building: str
    device_id: str
    location: str | None
    inspected_on: date | None
    valid_until: date | None
    certificate_number: str | None
    status: InspectionStatus
    days_left: int | None
    """Days from the site's today to the last valid day; negative once expired."""

    @classmethod
    def of(cls, car: CarInspection, now: datetime) -> InspectionOut:
        certificate = car.certificate
        return cls(
            site=car.car.site,
            building=car.building,
            device_id=car.car.device_id,
            location=car.location,
            inspected_on=None if certificate is None else certificate.inspected_on,
            valid_until=None if certificate is None else certificate.valid_until,
            certificate_number=None if certificate is None else certificate.number,
            status=car.status(now),
            days_left=None if certificate is None else certificate.days_left(car.day(now)),
        )


class RecordedOut(BaseModel):
    inspection: InspectionOut
    cancelled_work_order: str | None
    """The expiry's work order the new certificate cancelled, if one was open."""
