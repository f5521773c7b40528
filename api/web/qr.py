"""QR codes for the printed sheets: a place's link to the resident's report form, as SVG.

:func:`report_url` is the link a code opens: the report form (``/report``) with the place
filled in by its query parameters ``site``, ``building`` and, for an elevator car,
``asset`` (the car's device id). :func:`qr_svg` draws any link as an inline SVG that
scales to the box the print stylesheet gives it (no fixed size), at error correction
level M (15 %), which survives a scuffed sticker in a lift car.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode

import segno
from markupsafe import Markup

from maintenance.domain.actors import Role

__all__ = ["QR_ROLES", "REPORT_PATH", "qr_svg", "report_url"]

REPORT_PATH: Final = "/report"
QR_ROLES: Final[tuple[Role, ...]] = ("admin", "manager")
"""Who prints the sheets: the property office (the codes themselves open a public form)."""


def report_url(base_url: str, site: str, building: str, asset: str | None = None) -> str:
    """The report form's link for a building (or a car in it), under ``base_url``."""
    place = {"site": site, "building": building}
    if asset is not None:
        place["asset"] = asset
    return f"{base_url.rstrip('/')}{REPORT_PATH}?{urlencode(place)}"


def qr_svg(data: str) -> Markup:
    """``data`` as a QR code in an ``<svg>`` element with a viewBox and no size.

    Safe to put in a page as it is: segno writes only the SVG's own markup (the data is
    in the drawn modules, never in the text).
    """
    code = segno.make(data, error="m", micro=False)
    return Markup(code.svg_inline(border=2, omitsize=True, svgclass="qr", lineclass=None))
