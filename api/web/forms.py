"""A refused form's errors next to its fields, in the reader's language.

A page validates what a form posted with the JSON API's own model, so the rules are the
API's; :func:`field_errors` turns the model's ``ValidationError`` into one message per
field, chosen by the field and pydantic's error type (``missing``,
``string_too_long``...) from a table of msgids the route gives, with the error's
context (``%(max_length)s``...) filled in. The template shows ``errors[field]`` beside
the field (``aria-invalid`` on the input, the message linked by ``aria-describedby``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from pydantic import ValidationError

from api.web.deps import Page
from api.web.i18n import N_

__all__ = ["ANY", "ErrorTable", "field_errors"]

ANY: Final = "*"
"""The table's key for any error type of a field without its own."""
INVALID: Final = N_("This value is not valid.")

ErrorTable = Mapping[str, Mapping[str, str]]
"""field -> pydantic error type (or :data:`ANY`) -> msgid."""


def field_errors(
    page: Page, exc: ValidationError, table: ErrorTable, *, fields: Mapping[str, str] = {}
) -> dict[str, str]:
    """The first error of each field, translated; ``fields`` renames a model field to the
    form's (two model fields shown as one input)."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        shown = fields.get(name, name)
        if shown in errors:
            continue
        by_type = table.get(name, {})
        msgid = by_type.get(error["type"]) or by_type.get(ANY) or INVALID
        errors[shown] = page.gettext(msgid, **error.get("ctx", {}))
    return errors
