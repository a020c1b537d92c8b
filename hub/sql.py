"""Named SQL from ``include/sql/``: the set-based queries of reports and reconciliations, one file
per query, its parameters and result columns described in the file's header comment.

A query is loaded by name and run with bound parameters only; list parameters are expanded
(``IN :name``); result columns holding money or quantities are typed, so that on SQLite (where
they are stored as scaled integers, ``hub/exact.py``) they come back as exact ``Decimal``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

from sqlalchemy import String, TextClause, bindparam, text
from sqlalchemy.types import TypeEngine

SQL_DIR = Path(__file__).resolve().parent.parent / "include" / "sql"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def names() -> list[str]:
    """Every named query there is."""
    return sorted(p.stem for p in SQL_DIR.glob("*.sql"))


@cache
def source(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a query name: {name!r}")
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise LookupError(f"no named query {name!r} in {SQL_DIR} (have: {', '.join(names())})")
    return path.read_text(encoding="utf-8")


def query(name: str, *, lists: Sequence[str] = (), types: Mapping[str, TypeEngine] | None = None) -> TextClause:
    """The named query, with ``lists`` as expanding (text) parameters and ``types`` for its result columns."""
    # The header comment names the parameters as :name too: only the statement is bound.
    statement = "\n".join(line for line in source(name).splitlines() if not line.lstrip().startswith("--"))
    stmt = text(statement)
    if lists:
        # Typed as text: an empty list renders as an empty set of that type (PostgreSQL compares types).
        stmt = stmt.bindparams(*(bindparam(n, expanding=True, type_=String()) for n in lists))
    if types:
        stmt = stmt.columns(**types)  # type: ignore[assignment] - a TextualSelect runs like the text
    return stmt
