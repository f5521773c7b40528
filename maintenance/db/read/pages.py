"""Keyset pages: a page holds at most :data:`MAX_PAGE_SIZE` items and hands out an opaque
cursor for the next one, so a deep page costs what the first one does.

A list selects one row more than the page holds, labelled ``sort_value``; that extra row
says whether a next page exists, and the last row kept is where the next page starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, or_

from maintenance.db.mapping import RowData
from maintenance.db.read.cursor import encode_cursor
from maintenance.domain.errors import InvalidRequest

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "FIRST_PAGE",
    "MAX_PAGE_SIZE",
    "Page",
    "PageRequest",
    "after",
    "next_cursor",
    "visible_clauses",
]

DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 200

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageRequest:
    """``limit`` items after ``cursor`` (as handed out by the previous page)."""

    limit: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise InvalidRequest(f"page size {self.limit!r} refused: give 1 to {MAX_PAGE_SIZE}")


FIRST_PAGE: Final = PageRequest()
"""The default page: the first :data:`DEFAULT_PAGE_SIZE` items."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    """None on the last page."""
    limit: int


def after(
    column: ColumnElement[Any], id_column: ColumnElement[str], value: Any, last_id: Any, desc: bool
) -> ColumnElement[bool]:
    """Rows past (``value``, ``last_id``) in the order (``column``, ``id_column``)."""
    if desc:
        return or_(column < value, and_(column == value, id_column < last_id))
    return or_(column > value, and_(column == value, id_column > last_id))


def next_cursor(
    tag: str, rows: Sequence[RowData], limit: int, dump: Callable[[Any], Any]
) -> str | None:
    """The cursor after the page's last row, or None when ``rows`` hold no more than a page."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode_cursor(tag, dump(last["sort_value"]), last["id"])


def visible_clauses(clause: ColumnElement[bool] | None) -> list[ColumnElement[bool]]:
    """The caller's visibility clause as a WHERE list (empty when it may see everything),
    so a page counts only the rows the caller may see."""
    return [] if clause is None else [clause]
