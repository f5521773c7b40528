"""The regulator feed: GB/T 24476 faults, events and alarms, as a city's lift platform
takes them (pure, no I/O).

A coded alarm (one whose rule gives a GB/T 24476 code, :mod:`estatewatch.gbt24476`) on
an elevator with a ``registration_code`` in the site file is reported twice: when it is
raised and when it clears. The reports ride the webhooks: event type ``regulator.report``,
signed, sent and retried from the audit trail by the same
:class:`~maintenance.webhook_relay.WebhookRelay` and
:class:`~maintenance.webhooks.WebhookSender` (see :mod:`maintenance.webhooks` for the
envelope ``{"id", "type", "created_at", "data"}``, the headers and the signature). A
regulator is one subscription in the webhook file::

    subscriptions:
      - url: https://lift-platform.example.gov.cn/estatewatch
        secret: the-secret-agreed-with-the-platform
        events: [regulator.report]

``data`` of a report (all keys always present)::

    {
      "registration_code": "31103301002008090001",  # the car, as the regulator knows it
      "code": "09",                 # GB/T 24476 code
      "kind": "fault",              # fault | event | alarm, from the code table
      "name": "overtravel at the top",
      "state": "raised",            # raised | cleared (a cleared event: back to normal)
      "at": "2026-12-07T03:41:15+00:00",
      "alarm": "ALM-...",           # the alarm the raise and the clear belong to
      "site": "demo",
      "device_id": "elev-01",
      "rule": "overtravel_top"
    }

The envelope's ``id`` is the audit entry's id, the same on every re-send. A car without
a registration code, or an alarm without a code, is not reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from estatewatch.gbt24476 import CODES
from maintenance.db.tables import AuditRow
from maintenance.notify import OutboundEvent

__all__ = ["REPORTED_ACTIONS", "needs_registrations", "regulator_report"]

REPORTED_ACTIONS: Final = frozenset({"alarm.raised", "alarm.cleared"})


def regulator_report(row: AuditRow, registrations: Mapping[str, str]) -> OutboundEvent | None:
    """The report an audit entry calls for, if any; ``registrations`` maps an asset key
    (``site/elevator/elev-01``) to the car's registration code."""
    if not needs_registrations(row):
        return None
    code, device = row.detail["code"], row.detail.get("device")
    if code not in CODES or not isinstance(device, str) or device not in registrations:
        return None
    entry, registration = CODES[code], registrations[device]
    site, _, device_id = device.split("/")
    data: dict[str, Any] = {
        "registration_code": registration,
        "code": entry.code,
        "kind": entry.kind,
        "name": entry.name,
        "state": row.action.partition(".")[2],
        "at": row.at.isoformat(),
        "alarm": row.entity_id,
        "site": site,
        "device_id": device_id,
        "rule": row.detail.get("rule"),
    }
    return OutboundEvent(str(row.id), "regulator.report", data)


def needs_registrations(row: AuditRow) -> bool:
    """Whether the entry may become a report (so the relay loads the registrations)."""
    return row.action in REPORTED_ACTIONS and "code" in row.detail
