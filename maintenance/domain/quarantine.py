"""Senders the register does not know (pure).

A device or gateway heard from but not in the asset register is *quarantined*: its
messages reach no rule, alarm or work order. :class:`Sighting` is what the worker saw of
one such sender over a short while (folded with :meth:`Sighting.merge`, so a flood is one
row update per second, not one per message); an entry keeps them until an operator
decides: ``blocked`` (heard from on, never believed, still counted) or ``registered``
(the asset or gateway now exists; its next messages are judged like any other).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final, Literal

__all__ = ["GATEWAY", "SAMPLE_LIMIT", "Decision", "Sighting", "sender_key"]

GATEWAY: Final = "gateway"
"""The ``device_type`` of a gateway's entry (its topics are ``{site}/gateway/{id}/...``)."""
SAMPLE_LIMIT: Final = 1024

Decision = Literal["blocked", "registered"]


def sender_key(site: str, device_type: str, device_id: str) -> str:
    """``site/device_type/device_id``: the asset key of a device, ``site/gateway/id`` of a
    gateway."""
    return f"{site}/{device_type}/{device_id}"


@dataclass(frozen=True, slots=True)
class Sighting:
    """Messages from one unknown sender: when first and last, how many, the last one's
    gist and the gateway it came through."""

    site: str
    device_type: str
    device_id: str
    gateway_id: str
    first_seen: datetime
    last_seen: datetime
    messages: int
    sample: str

    @property
    def key(self) -> str:
        return sender_key(self.site, self.device_type, self.device_id)

    def merge(self, later: Sighting) -> Sighting:
        """This sighting followed by ``later`` of the same sender."""
        return replace(
            self,
            gateway_id=later.gateway_id,
            last_seen=max(self.last_seen, later.last_seen),
            first_seen=min(self.first_seen, later.first_seen),
            messages=self.messages + later.messages,
            sample=later.sample,
        )
