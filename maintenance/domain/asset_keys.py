"""What a work order's asset key names, and whether it agrees with the order's site.

An order is about a device or a place, and its asset key says which:

    <site>/<device_type>/<device_id>          a device: demo/elevator/elev-01
    <site>/building/<building>/<place>        a place in a building: demo/building/B3/stairwell

A device must be in the site's asset register (the service asks the unit of work); a
place is free text by design (a resident names it as they see it), so only its form and
its site are checked. :func:`parse_asset` is pure; it raises :class:`AssetRefused` with a
``code`` saying what is wrong, which the API answers as a 422 of that kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from maintenance.domain.errors import AssetRefused
from maintenance.domain.signals import DeviceRef

__all__ = ["PLACE_SEGMENT", "Place", "parse_asset"]

PLACE_SEGMENT: Final = "building"
"""The second segment of a place's key (never a device type)."""

_FORMS: Final = (
    "<site>/<device_type>/<device_id> of a registered device, or <site>/building/<building>/<place>"
)


@dataclass(frozen=True, slots=True)
class Place:
    site: str
    building: str
    place: str


def parse_asset(site: str, asset: str) -> DeviceRef | Place:
    """The device or place ``asset`` names, checked against the order's ``site``."""
    parts = asset.split("/")
    if len(parts) < 3 or not all(parts[:3]):
        raise AssetRefused("malformed", f"asset {asset!r} is not of the form {_FORMS}")
    if parts[0] != site:
        raise AssetRefused(
            "site-mismatch", f"asset {asset!r} is at site {parts[0]!r}, not at the order's {site!r}"
        )
    if parts[1] == PLACE_SEGMENT:
        if len(parts) < 4 or not parts[3]:
            raise AssetRefused("malformed", f"asset {asset!r} names a building but no place in it")
        return Place(site, parts[2], "/".join(parts[3:]))
    if len(parts) != 3:
        raise AssetRefused("malformed", f"asset {asset!r} is not of the form {_FORMS}")
    return DeviceRef(*parts)
