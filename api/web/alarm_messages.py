"""An alarm's message in the reader's language. An alarm stores its rule's English
sentence filled with the reading's figures (``message:`` in
``maintenance/rules/default.yaml``), not the figures themselves; :data:`ALARM_MESSAGES`
holds each shipped rule's sentence as a msgid, and :func:`alarm_message` reads the
figures back out of the stored sentence by the rule's template, then fills the
translation with them. No migration: every alarm ever stored reads in the reader's
language. A rule the catalogue does not know (a site's own rules file), or a stored
sentence its template no longer matches (the rules file changed), shows the stored
English sentence. A test holds this table and the rules file together.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Final

from api.web.i18n import N_

__all__ = ["ALARM_MESSAGES", "alarm_message", "template_pattern"]

ALARM_MESSAGES: Final[dict[str, str]] = {
    "entrapment": N_(
        "entrapment: car stopped near floor %(floor)s outside the door zone for "
        "%(stopped_outside_zone_s)s s (load %(car_load)s %%)"
    ),
    "alarm_button": N_(
        "alarm button held for 10 s in the car at floor %(floor)s (load %(car_load)s %%)"
    ),
    "level5_fault": N_(
        "car stopped by fault E%(fault_code)s at floor %(floor)s (load %(car_load)s %%)"
    ),
    "overtravel_top": N_(
        "overtravel at the top: car on the final limit at %(car_position)s m (load %(car_load)s %%)"
    ),
    "overtravel_bottom": N_(
        "overtravel at the bottom: car on the final limit at %(car_position)s m (load "
        "%(car_load)s %%)"
    ),
    "door_open_running": N_(
        "doors open while running near floor %(floor)s at %(speed)s m/s (load %(car_load)s %%)"
    ),
    "moving_doors_open": N_(
        "car moving at %(speed)s m/s with its doors open near floor %(floor)s (load "
        "%(car_load)s %%)"
    ),
    "unintended_movement": N_(
        "unintended car movement: doors open outside the door zone near floor %(floor)s at "
        "%(car_position)s m"
    ),
    "overspeed": N_(
        "overspeed: %(speed)s m/s, %(speed_percent)s %% of rated (load %(car_load)s %%)"
    ),
    "floor_position_lost": N_("floor position lost (car at %(car_position)s m)"),
    "inspection_mode": N_("inspection mode at floor %(floor)s"),
    "fire_return": N_("fire return (car at floor %(floor)s)"),
    "firefighter_service": N_("firefighter service (car at floor %(floor)s)"),
    "emergency_power": N_("emergency power operation (car at floor %(floor)s)"),
    "earthquake_mode": N_("earthquake mode (car at floor %(floor)s)"),
    "mains_power_lost": N_("mains power lost (car at floor %(floor)s)"),
    "door_failures_rising": N_(
        "door failures rising: %(count)s new failures within a week (total %(door_failures)s)"
    ),
    "levelling_drift": N_(
        "levelling drift: %(count)s stops beyond 10 mm within 6 h (last %(levelling_error)s "
        "mm at floor %(floor)s)"
    ),
    "heatsink_hot": N_("drive heatsink at %(heatsink_temperature)s degC"),
    "ebike_in_elevator": N_("e-bike in the car at floor %(floor)s"),
    "door_degradation": N_(
        "door %(metric)s time %(seconds)s s at landing %(landing)s (baseline %(mean)s s, z %(z)s)"
    ),
    "silent_lift": N_(
        "no trip for %(quiet_min)s min (normal at %(hour)s:00 is at most %(limit_min)s min)"
    ),
    "elevator_offline": N_("elevator offline: %(reason)s"),
    "charger_fire": N_(
        "charger cabinet fire alarm (smoke %(smoke_alarm)s, heat %(heat_alarm)s, "
        "%(ambient_temperature)s degC)"
    ),
    "charger_fire_stop": N_(
        "charger port %(port)s stopped by the fire system (%(temperature)s degC)"
    ),
    "charger_overheat": N_("charger port %(port)s at %(temperature)s degC for 30 s"),
    "charger_overload": N_(
        "charger port %(port)s overload: %(power)s W (stop reason %(stop_reason)s)"
    ),
    "charger_long_session": N_(
        "charger port %(port)s has been charging for %(session_minutes)s min"
    ),
    "charger_offline": N_("charger offline: %(reason)s"),
    "smoke_fire": N_("smoke alarm: obscuration %(smoke_obscuration)s %%/m, %(temperature)s degC"),
    "smoke_battery_low": N_("smoke alarm battery low (%(battery)s %%)"),
    "smoke_removed": N_("smoke alarm removed from its base"),
    "smoke_offline": N_("smoke alarm offline: %(reason)s"),
    "gateway_offline": N_("gateway offline"),
}

_PLACEHOLDER: Final = re.compile(r"%\((\w+)\)s")


def template_pattern(msgid: str) -> re.Pattern[str]:
    """The stored sentences ``msgid`` makes: each ``%(name)s`` a named group (a name used
    twice must read the same twice), the rest literal."""
    parts: list[str] = []
    seen: set[str] = set()
    pos = 0
    for m in _PLACEHOLDER.finditer(msgid):
        parts.append(re.escape(msgid[pos : m.start()].replace("%%", "%")))
        name = m.group(1)
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        pos = m.end()
    parts.append(re.escape(msgid[pos:].replace("%%", "%")))
    return re.compile("".join(parts), re.DOTALL)


@cache
def _pattern(rule: str) -> re.Pattern[str]:
    return template_pattern(ALARM_MESSAGES[rule])


def alarm_message(rule: str, message: str, gettext: Callable[[str], str]) -> str:
    """The alarm's ``message`` said through ``gettext``: the translation of its rule's
    sentence with the figures read back from ``message``; ``message`` itself for a rule
    the catalogue does not know or a sentence its template does not match."""
    if rule not in ALARM_MESSAGES:
        return message
    figures = _pattern(rule).fullmatch(message)
    if figures is None:
        return message
    return gettext(ALARM_MESSAGES[rule]) % figures.groupdict()
