"""JSON or CSV: how a route that offers both tells which one the caller wants.

``?format=csv`` (or ``json``) decides when given; otherwise an ``Accept`` header naming
``text/csv`` asks for CSV; anything else gets JSON.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from fastapi import Query, Request, Response

__all__ = ["CSV_MEDIA_TYPE", "FormatQuery", "csv_response", "wants_csv"]

CSV_MEDIA_TYPE: Final = "text/csv; charset=utf-8"

FormatQuery = Annotated[
    Literal["json", "csv"] | None,
    Query(alias="format", description="json or csv; default: the Accept header, else json"),
]


def wants_csv(request: Request, chosen: Literal["json", "csv"] | None) -> bool:
    if chosen is not None:
        return chosen == "csv"
    return "text/csv" in request.headers.get("accept", "").lower()


def csv_response(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
