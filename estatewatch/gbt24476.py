"""GB/T 24476 fault, event and alarm codes: the codes regulators' lift platforms speak.

GB/T 24476-2017 (IoT for lifts) makes lifts report faults, events and alarms to the
local government's safety-monitoring platform by number. The table below is the one
public implementations use (shared/domain.md; confirm against the standard before
claiming conformance): faults 01-11, events 40-47, alarm 90.

Who uses it:

- a device profile maps its controller's own fault codes to it (``faults:`` entries of
  ``estatewatch/catalogue/profiles/*.yaml`` carry ``gbt24476: "01"``);
- a rule names the code its alarms carry (``gbt24476:`` in the rule file), fixed or
  taken from the controller's fault code through that map (:func:`controller_codes`);
- alarms and work orders keep the code, and the regulator feed sends it.

Codes are two-digit strings, as on the regulators' wire ("01", not 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from estatewatch.catalogue import Catalogue

__all__ = ["CODES", "CodeKind", "GbtCode", "controller_codes", "describe"]

CodeKind = Literal["fault", "event", "alarm"]


@dataclass(frozen=True, slots=True)
class GbtCode:
    code: str
    kind: CodeKind
    name: str
    """In English, as the platform's pages name it (the web pages translate it)."""


def N_(name: str) -> str:  # noqa: N802 - gettext's name for "translate later"
    """Marks a name for the web app's catalogue (api/web/babel.cfg reads this file)."""
    return name


def _table(*rows: tuple[str, CodeKind, str]) -> dict[str, GbtCode]:
    return {code: GbtCode(code, kind, name) for code, kind, name in rows}


CODES: Final[Mapping[str, GbtCode]] = _table(
    ("01", "fault", N_("safety circuit open while running")),
    ("02", "fault", N_("door fails to close")),
    ("03", "fault", N_("door fails to open")),
    ("04", "fault", N_("car stopped outside the door zone")),
    ("05", "fault", N_("unintended car movement")),
    ("06", "fault", N_("motor running-time limiter tripped")),
    ("07", "fault", N_("floor position lost")),
    ("08", "fault", N_("restart prevented")),
    ("09", "fault", N_("overtravel at the top")),
    ("10", "fault", N_("overtravel at the bottom")),
    ("11", "fault", N_("passengers trapped")),
    ("40", "event", N_("back to normal service")),
    ("41", "event", N_("mains power lost")),
    ("42", "event", N_("out of service")),
    ("43", "event", N_("inspection mode")),
    ("44", "event", N_("fire return")),
    ("45", "event", N_("firefighter service")),
    ("46", "event", N_("emergency power")),
    ("47", "event", N_("earthquake mode")),
    ("90", "alarm", N_("alarm button pressed")),
)


def describe(code: str) -> GbtCode:
    """The table entry of ``code``; KeyError names the code and the known ones."""
    try:
        return CODES[code]
    except KeyError:
        raise KeyError(f"{code!r} is no GB/T 24476 code; known: {', '.join(CODES)}") from None


def controller_codes(catalogue: Catalogue) -> dict[str, dict[int, str]]:
    """device type -> {controller fault code: GB/T 24476 code}, from the profiles' faults.

    Profiles of one device type share the map (a device type's alarms are read the same
    way whichever controller sent them); where two map one number, the profile first in
    name order wins.
    """
    out: dict[str, dict[int, str]] = {}
    for _, profile in sorted(catalogue.profiles.items()):
        mapped = out.setdefault(profile.device_type, {})
        for number, fault in profile.faults.items():
            if fault.gbt24476 is not None:
                mapped.setdefault(number, fault.gbt24476)
    return out
