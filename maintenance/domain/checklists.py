"""Maintenance checklists as data: the items of each visit level (TSG T5002).

A catalogue (``maintenance/plans/tsg_t5002.yaml``) lists items, each with a code
(``name``), a level, the area of the lift it is in, English and Chinese titles, what
"done" requires and, for a measured item, the reading's unit and limits. Levels are
cumulative (:func:`Checklist.items_for`): a quarterly visit does the half-monthly items
too, and a yearly visit every item. A site extends the catalogue with extra files of the
same shape (``items:``; :meth:`Checklist.extended`); a code used twice is refused.

Validation errors name the file and the field (``extra.yaml: items[2] (S01).level: ...``),
through :func:`estatewatch.validation.validate`; reading the file is the adapter's job
(:mod:`maintenance.config_files`).
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from estatewatch.errors import ConfigError
from estatewatch.validation import validate

__all__ = [
    "LEVELS",
    "Checklist",
    "ChecklistExtra",
    "ChecklistItem",
    "Level",
    "Reading",
    "parse_checklist",
    "parse_checklist_extra",
]

Level = Literal["half_monthly", "quarterly", "half_yearly", "yearly"]
LEVELS: Final[tuple[Level, ...]] = ("half_monthly", "quarterly", "half_yearly", "yearly")
"""From the most frequent to the rarest; each level includes the ones before it."""

Area = Literal["machine_room", "car_top", "car", "landing", "shaft", "pit"]
Code = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{1,11}$")]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Reading(_Strict):
    """A value measured at the item, e.g. the door lock's engagement depth in mm (>= 7)."""

    unit: Annotated[str, Field(min_length=1, max_length=16)]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def within(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class ChecklistItem(_Strict):
    name: Code
    level: Level
    area: Area
    title: Text
    title_zh: Text
    requirement: Text
    reading: Reading | None = None


def _unique(items: list[ChecklistItem]) -> list[ChecklistItem]:
    twice = sorted(code for code, n in Counter(i.name for i in items).items() if n > 1)
    if twice:
        raise ValueError(f"item codes appear twice: {', '.join(twice)}")
    return items


class ChecklistExtra(_Strict):
    """A site's own items, added to a catalogue."""

    items: Annotated[list[ChecklistItem], Field(min_length=1)]

    @model_validator(mode="after")
    def _codes_unique(self) -> Self:
        _unique(self.items)
        return self


class Checklist(_Strict):
    name: Text
    items: Annotated[list[ChecklistItem], Field(min_length=1)]

    @model_validator(mode="after")
    def _complete(self) -> Self:
        _unique(self.items)
        missing = [level for level in LEVELS if not any(i.level == level for i in self.items)]
        if missing:
            raise ValueError(f"no items for the level(s) {', '.join(missing)}")
        return self

    def items_for(self, level: Level) -> list[ChecklistItem]:
        """Every item a visit of ``level`` does: its own and those of the levels below."""
        upto = LEVELS[: LEVELS.index(level) + 1]
        return [item for item in self.items if item.level in upto]

    def item(self, code: str) -> ChecklistItem | None:
        return next((i for i in self.items if i.name == code), None)

    def extended(self, extra: ChecklistExtra, source: str) -> Checklist:
        """This catalogue plus a site's items; a code already here is a ConfigError
        naming ``source`` and the item."""
        known = {item.name for item in self.items}
        for n, item in enumerate(extra.items):
            if item.name in known:
                raise ConfigError(
                    f"{source}: items[{n}] ({item.name}).name: the code {item.name} is already"
                    f" in {self.name}"
                )
        return self.model_copy(update={"items": [*self.items, *extra.items]})


def parse_checklist(raw: Any, source: str) -> Checklist:
    return validate(Checklist, raw, source)


def parse_checklist_extra(raw: Any, source: str) -> ChecklistExtra:
    return validate(ChecklistExtra, raw, source)
