"""Storage errors, translated from SQLAlchemy's at this package's boundary.

Callers catch these, never SQLAlchemy's:

    EstatewatchError
    +-- StorageError               the database refused or could not run an operation
        +-- SchemaNotCurrentError  the database is not at the code's migration head
"""

from __future__ import annotations

from estatewatch.errors import EstatewatchError


class StorageError(EstatewatchError):
    """The database refused or could not run an operation."""


class SchemaNotCurrentError(StorageError):
    """The database's schema is older or newer than this code expects."""
