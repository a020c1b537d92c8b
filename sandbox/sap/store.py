"""Rows of every entity set, with indexes and an undo journal for changeset atomicity.

Rows are plain dicts keyed by property name holding Python values (str, Decimal, datetime, ...).
Each :class:`Table` keeps its rows by key and, for the properties named at creation, an index, so
lookups by order number, customer PO number or parent document stay O(result). Every change goes
through :class:`Journal` while a transaction is open, so a failing ``$batch`` changeset can be
undone completely.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sandbox.sap.edm import EntitySet, Service
from sandbox.sap.odata_json import blank_row

Row = dict[str, Any]
Key = tuple[Any, ...]
TICK = timedelta(microseconds=1)


def later(previous: datetime | None, now: datetime) -> datetime:
    """A change timestamp after ``previous``: ETags built from it must change with every change, even
    when the sandbox clock stands still."""
    return now if previous is None or now > previous else previous + TICK


class Journal:
    """Undo actions of the open transaction; outside one, changes are final at once."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] | None = None

    def record(self, undo: Callable[[], None]) -> None:
        if self._undo is not None:
            self._undo.append(undo)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._undo is not None:  # nested: the outer transaction decides
            yield
            return
        self._undo = []
        try:
            yield
        except BaseException:
            for undo in reversed(self._undo):
                undo()
            raise
        finally:
            self._undo = None


class Table:
    def __init__(self, entity_set: EntitySet, journal: Journal, indexed: Iterable[str] = ()) -> None:
        self.entity_set = entity_set
        self.keys = entity_set.type.keys
        self.journal = journal
        self.rows: dict[Key, Row] = {}
        self.indexes: dict[str, dict[Any, dict[Key, Row]]] = {name: {} for name in indexed}

    def key_of(self, row: Row) -> Key:
        return tuple(row[k] for k in self.keys)

    def new_row(self, **values: Any) -> Row:
        row = blank_row(self.entity_set.type)
        row.update(values)
        return row

    def insert(self, row: Row) -> Row:
        key = self.key_of(row)
        if key in self.rows:
            raise KeyError(f"{self.entity_set.name}{key} exists")
        self.rows[key] = row
        for name, index in self.indexes.items():
            index.setdefault(row.get(name), {})[key] = row
        self.journal.record(lambda: self._remove(key))
        return row

    def _remove(self, key: Key) -> Row | None:
        row = self.rows.pop(key, None)
        if row is not None:
            for name, index in self.indexes.items():
                bucket = index.get(row.get(name), {})
                bucket.pop(key, None)
        return row

    def delete(self, row: Row) -> None:
        removed = self._remove(self.key_of(row))
        if removed is not None:
            self.journal.record(lambda: self.insert(removed))

    def update(self, row: Row, changes: dict[str, Any]) -> None:
        old = {name: row.get(name) for name in changes}
        key = self.key_of(row)
        for name, value in changes.items():
            if name in self.indexes:
                self.indexes[name].get(row.get(name), {}).pop(key, None)
                self.indexes[name].setdefault(value, {})[key] = row
            row[name] = value

        def undo() -> None:
            for name, value in old.items():
                if name in self.indexes:
                    self.indexes[name].get(row.get(name), {}).pop(key, None)
                    self.indexes[name].setdefault(value, {})[key] = row
                row[name] = value

        self.journal.record(undo)

    def get(self, key: Key) -> Row | None:
        return self.rows.get(key)

    def lookup(self, name: str, value: Any) -> list[Row]:
        return list(self.indexes[name].get(value, {}).values())

    def all(self) -> list[Row]:
        return list(self.rows.values())

    def __len__(self) -> int:
        return len(self.rows)


class Store:
    """One table per entity set of every service; children found through navigation links."""

    def __init__(self, services: Iterable[Service], indexed: dict[str, tuple[str, ...]]) -> None:
        self.journal = Journal()
        self.tables: dict[str, Table] = {}
        self.sets: dict[str, EntitySet] = {}
        for service in services:
            for es in service.entity_sets:
                self.tables[es.name] = Table(es, self.journal, indexed.get(es.name, ()))
                self.sets[es.name] = es

    def table(self, name: str) -> Table:
        return self.tables[name]

    def children(self, es: EntitySet, nav_name: str, row: Row) -> list[Row]:
        nav = es.type.nav_by_name[nav_name]
        target = self.tables[nav.target]
        first_parent, first_child = nav.link[0]
        if first_child in target.indexes:
            candidates = target.lookup(first_child, row[first_parent])
        elif target.keys == tuple(child for _, child in nav.link):
            found = target.get(tuple(row[parent] for parent, _ in nav.link))
            candidates = [found] if found is not None else []
        else:
            candidates = target.all()
        rows = [r for r in candidates if all(r.get(child) == row.get(parent) for parent, child in nav.link)]
        return sorted(rows, key=target.key_of)
