"""Human byte sizes in config files: ``1048576``, ``512KB``, ``64MB``, ``2GB`` (powers of 1024)."""

from __future__ import annotations

import re

_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1024,
    "MB": 1024**2,
    "GB": 1024**3,
    "KIB": 1024,
    "MIB": 1024**2,
    "GIB": 1024**3,
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def parse_size(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and (match := _PATTERN.match(value)):
        unit = match.group(2).upper()
        if unit in _UNITS:
            return int(float(match.group(1)) * _UNITS[unit])
    raise ValueError(f"{value!r} is not a size like 1048576, 512KB, 64MB or 2GB")
