"""The maintenance application services: the use cases the API and the worker call.

    work_orders.py  signals -> alarms and work orders, typed work-order commands, alarm
                    acknowledgement, the periodic SLA check
    committee.py    spending proposals, owners' votes and the emergency decision
    photos.py       a checked, re-encoded photo added to a work order
    inspections.py  elevator inspections recorded, and the periodic check that sends each
                    certificate's reminders and opens the expiry's P2 order

Every change goes through the unit of work (:mod:`maintenance.domain.ports`) and its
repositories; reads for lists and details go through :mod:`maintenance.db.read`.
"""

from __future__ import annotations

from maintenance.services.committee import (
    create_proposal,
    emergency_decision,
    new_proposal_id,
    open_vote,
    record_tally,
)
from maintenance.services.inspections import (
    InspectionCheck,
    Recorded,
    check_inspections,
    record_inspection,
)
from maintenance.services.photos import add_photo
from maintenance.services.work_orders import (
    COMMAND_HANDLERS,
    Context,
    Handler,
    OrderResult,
    Outcome,
    SlaCheck,
    acknowledge_alarm,
    apply_signal,
    check_slas,
    create_order,
    handle_signal,
    new_alarm_id,
    perform,
    refresh_due_times,
    report_entrapment,
)

__all__ = [
    "COMMAND_HANDLERS",
    "Context",
    "Handler",
    "InspectionCheck",
    "OrderResult",
    "Outcome",
    "Recorded",
    "SlaCheck",
    "acknowledge_alarm",
    "add_photo",
    "apply_signal",
    "check_inspections",
    "check_slas",
    "create_order",
    "create_proposal",
    "emergency_decision",
    "handle_signal",
    "new_alarm_id",
    "new_proposal_id",
    "open_vote",
    "perform",
    "record_inspection",
    "record_tally",
    "refresh_due_times",
    "report_entrapment",
]
