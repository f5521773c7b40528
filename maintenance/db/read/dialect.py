"""SQL functions the read models need that SQLite and PostgreSQL spell differently."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

__all__ = ["Epoch"]


class Epoch(FunctionElement[float]):
    """Seconds since 1970 of a stored UTC time (naive in the database)."""

    type = Float()
    inherit_cache = True


@compiles(Epoch, "sqlite")
def _epoch_sqlite(element: Epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(Epoch)
def _epoch_default(element: Epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"
