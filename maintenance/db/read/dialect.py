"""SQL functions the read models need that SQLite and PostgreSQL spell differently."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

__all__ = ["Epoch", "Least"]


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


class Least(FunctionElement[float]):
    """The smallest argument (no argument may be NULL: SQLite's min() would be NULL)."""

    type = Float()
    inherit_cache = True


@compiles(Least, "sqlite")
def _least_sqlite(element: Least, compiler: SQLCompiler, **kw: Any) -> str:
    return f"min({compiler.process(element.clauses, **kw)})"


@compiles(Least)
def _least_default(element: Least, compiler: SQLCompiler, **kw: Any) -> str:
    return f"LEAST({compiler.process(element.clauses, **kw)})"
