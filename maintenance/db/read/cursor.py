"""The opaque cursor a keyset page hands out: ``[tag, sort value, last id]`` as JSON in
URL-safe base64 without padding.

The tag names the list and its sort, so a cursor made for another list or sort is refused
(:class:`~maintenance.domain.errors.InvalidRequest`), as is one that does not decode.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from maintenance.domain.errors import InvalidRequest

__all__ = ["decode_cursor", "encode_cursor", "parse_number", "parse_text", "parse_time"]


def encode_cursor(tag: str, value: Any, last_id: str) -> str:
    raw = json.dumps([tag, value, last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, tag: str, parse: Callable[[Any], Any]) -> tuple[Any, str]:
    """The (sort value, id) a cursor carries; refuses one made for another list or sort."""
    refused = InvalidRequest(
        f"cursor {cursor[:40]!r} refused: it is not one this list handed out for this sort;"
        " start again without a cursor"
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        found_tag, value, last_id = json.loads(raw)
        if found_tag != tag or not isinstance(last_id, str):
            raise refused
        return parse(value), last_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise refused from exc


# Parsers for the sort value a cursor carries: each raises TypeError or ValueError on a
# value of the wrong kind, which decode_cursor turns into a refusal.


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError("a time is ISO text")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("a cursor time has a zone")
    return parsed


def parse_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("a number")
    return float(value)


def parse_text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("text")
    return value
