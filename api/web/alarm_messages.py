"""An alarm's message in the reader's language. An alarm stores its rule's English
sentence filled with the reading's figures (``message:`` in
``maintenance/rules/default.yaml``), not the figures themselves; :data:`ALARM_MESSAGES`
holds each shipped rule's sentence as a msgid, and :func:`alarm_message` reads the
figures back out of the stored sentence by the rule's template, then fills the
translation with them. No migration: every alarm ever stored reads in the reader's
language. A rule the catalogue does not know (a site's own rules file), or a stored
sentence its template no longer matches (the rules file changed), shows the stored
English sentence. A test holds this table and the rules file together.
:data:`PLATFORM_MESSAGES` does the same for the alarms the platform raises itself (an
inspection certificate, an overdue maintenance visit), whatever their rule.

An order the platform made carries an English title too, ``<device>: <what>``: from an
alarm (its sentence), a rescue, a maintenance visit, a defect a visit found (with the
checklist item's English title, which the caller's ``item_title`` says in the reader's
language). :func:`order_title` says those the same way; any other title (one a person
typed) shows as typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import cache
from typing import Final

from api.web.i18n import N_

__all__ = [
    "ALARM_MESSAGES",
    "ORDER_TITLES",
    "PLATFORM_MESSAGES",
    "alarm_message",
    "order_title",
    "template_pattern",
]

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

PLATFORM_MESSAGES: Final[tuple[str, ...]] = (
    # maintenance/domain/inspections.py: with the certificate's number, or without.
    N_("inspection certificate %(number)s expired after %(day)s"),
    N_("inspection certificate expired after %(day)s"),
    N_("inspection certificate %(number)s expires after %(day)s"),
    N_("inspection certificate expires after %(day)s"),
    # maintenance/services/plans.py: an overdue visit, since the last one or the first.
    N_("maintenance visit overdue (%(days)s days since the last visit; due %(due)s)"),
    N_("maintenance visit overdue (no visit yet; due %(due)s)"),
)

ORDER_TITLES: Final[tuple[str, ...]] = (
    # maintenance/services/work_orders.py: a rescue.
    N_("%(device)s: passengers trapped"),
    # maintenance/services/plans.py: a maintenance visit, by its level.
    N_("%(device)s: half-monthly maintenance visit, due %(due)s"),
    N_("%(device)s: quarterly maintenance visit, due %(due)s"),
    N_("%(device)s: half-yearly maintenance visit, due %(due)s"),
    N_("%(device)s: yearly maintenance visit, due %(due)s"),
)
_DEFECT: Final = N_("%(device)s: defect at %(item)s %(title)s")
"""An order a visit's defect opened (maintenance/services/plans.py): the checklist item's
code and English title."""
_ABOUT_ALARM: Final = N_("%(device)s: %(alarm)s")
"""An order an alarm opened: its device and the alarm's sentence."""

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
def _pattern(msgid: str) -> re.Pattern[str]:
    return template_pattern(msgid)


def _said(msgids: Iterable[str], text: str, gettext: Callable[[str], str]) -> str | None:
    """``text`` in ``gettext``'s language by the first of ``msgids`` that made it."""
    for msgid in msgids:
        figures = _pattern(msgid).fullmatch(text)
        if figures is not None:
            return gettext(msgid) % figures.groupdict()
    return None


def alarm_message(rule: str, message: str, gettext: Callable[[str], str]) -> str:
    """The alarm's ``message`` said through ``gettext``: the translation of its rule's
    sentence (or of the platform's own alarms') with the figures read back from
    ``message``; ``message`` itself for a rule the catalogue does not know or a sentence
    its template does not match."""
    msgids = (ALARM_MESSAGES[rule],) if rule in ALARM_MESSAGES else PLATFORM_MESSAGES
    return _said(msgids, message, gettext) or message


def order_title(
    title: str,
    asset: str,
    gettext: Callable[[str], str],
    item_title: Callable[[str, str], str] = lambda code, title: title,
) -> str:
    """An order's ``title`` said through ``gettext`` when the platform made it for the
    device of ``asset`` (``site/device_type/device_id``); as typed otherwise.
    ``item_title(code, english_title)`` says a checklist item's title in the reader's
    language."""
    device = asset.rsplit("/", 1)[-1]
    said = _said(ORDER_TITLES, title, gettext)
    if said is not None:
        return said
    defect = _pattern(_DEFECT).fullmatch(title)
    if defect is not None:
        figures = defect.groupdict()
        figures["title"] = item_title(figures["item"], figures["title"])
        return gettext(_DEFECT) % figures
    what = title.removeprefix(f"{device}: ")
    if what == title:
        return title
    alarm = _said((*ALARM_MESSAGES.values(), *PLATFORM_MESSAGES), what, gettext)
    if alarm is None:
        return title
    return gettext(_ABOUT_ALARM) % {"device": device, "alarm": alarm}
