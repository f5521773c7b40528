"""The words for a fault's kind on the pages (``faults by kind`` in an elevator's renewal
evidence, on the asset page and the committee's proposals): :data:`FAULT_KINDS` names
every ``fault_kind`` of the detection rules file (``maintenance/rules/default.yaml``) and
of the alarms the platform raises itself (an expired inspection certificate, an overdue
maintenance visit, a defect found at a visit). A kind with a ``/`` (``defect/<item>``,
``maintenance_visit/<due day>``) is named by its family, before the ``/``. A test walks
the rules file and fails on a kind without a name here.
"""

from __future__ import annotations

from typing import Final

from api.web.i18n import N_

__all__ = ["FAULT_KINDS", "fault_kind_name"]

FAULT_KINDS: Final[dict[str, str]] = {
    "battery": N_("Low battery"),
    "charger_overheat": N_("Charging port overheating"),
    "charger_overload": N_("Charging overload"),
    "charger_session": N_("Charging too long"),
    "door": N_("Door faults"),
    "door_safety": N_("Running with doors open"),
    "ebike": N_("E-bike in the car"),
    "elevator_stopped": N_("Stopped by the controller"),
    "entrapment": N_("Passengers trapped"),
    "fire": N_("Smoke or heat"),
    "levelling": N_("Levelling error"),
    "motor": N_("Motor drive overheating"),
    "offline": N_("Offline"),
    "overspeed": N_("Overspeed"),
    "overtravel": N_("Overtravel"),
    "position": N_("Floor position lost"),
    "power": N_("Mains power lost"),
    "service_mode": N_("Inspection mode"),
    "silent": N_("Unusually quiet"),
    "tamper": N_("Detector removed"),
    "unintended_movement": N_("Unintended car movement"),
    "inspection": N_("Inspection certificate"),
    "maintenance_visit": N_("Maintenance visit overdue"),
    "defect": N_("Defect found at a visit"),
}


def fault_kind_name(kind: str) -> str:
    """The msgid naming ``kind`` (its family's for ``family/detail``); an unknown kind as
    it is, which the page then shows untranslated rather than hiding it."""
    return FAULT_KINDS.get(kind.split("/", 1)[0], kind)
