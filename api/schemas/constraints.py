"""Constraints the request models share, written so the OpenAPI document states them.

A generated client should never send what the API then refuses, so each rule checked on a
request is one the document can say: text that must not be blank carries the pattern
:data:`NOT_BLANK` beside its ``minLength`` (the models strip whitespace first, so ``" "``
is refused); an amount of money is a number with a ``maximum`` and ``multipleOf: 0.01``,
or a string of digits with at most two decimals (pydantic alone would show the string
form with no constraint at all: :func:`amount_schema`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from pydantic import WithJsonSchema

__all__ = ["NOT_BLANK", "amount_limit", "amount_schema"]

NOT_BLANK: Final = r"\S"
"""At least one character that is not whitespace (JSON Schema patterns search, unanchored)."""


def amount_limit(digits: int) -> Decimal:
    """The largest amount with ``digits`` digits of yuan and two of fen (999.99 for 3)."""
    return Decimal(10) ** digits - Decimal("0.01")


def amount_schema(digits: int) -> WithJsonSchema:
    """The document's form of a non-negative amount of yuan up to
    :func:`amount_limit` (``digits``), in fen, as a number or a string of digits: the
    model's ``Field(ge=0, le=amount_limit(digits), decimal_places=2)`` enforces the same."""
    most = amount_limit(digits)
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": float(most), "multipleOf": 0.01},
                {"type": "string", "pattern": rf"^\d{{1,{digits}}}(\.\d{{1,2}})?$"},
            ],
            "description": f"yuan, 0 to {most}, at most two decimals (fen)",
        },
        mode="validation",
    )
