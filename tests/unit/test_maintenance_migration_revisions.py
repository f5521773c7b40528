"""Every Alembic revision is self-contained: it imports alembic, sqlalchemy and the
standard library's typing helpers, never the application, so a later change to a model
cannot change what an old revision does."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import maintenance.db.migrations

VERSIONS = Path(maintenance.db.migrations.__file__).parent / "versions"
REVISIONS = sorted(p for p in VERSIONS.glob("r*.py"))
ALLOWED = {"__future__", "collections", "typing", "alembic", "sqlalchemy"}


def imported_roots(source: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add("." if node.level else (node.module or "").split(".")[0])
    return roots


def test_there_are_revisions_to_check() -> None:
    assert len(REVISIONS) >= 6


@pytest.mark.parametrize("revision", REVISIONS, ids=lambda p: p.stem)
def test_a_revision_imports_only_alembic_and_sqlalchemy(revision: Path) -> None:
    assert imported_roots(revision.read_text()) <= ALLOWED


def test_the_check_sees_an_application_import() -> None:
    assert imported_roots("import api.db_tables\nfrom maintenance.db import queries\n") == {
        "api",
        "maintenance",
    }
    assert imported_roots("from . import sibling\n") == {"."}
