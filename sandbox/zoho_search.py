"""Search Records (``GET /crm/v8/{module}/search?criteria=…``) for the modules the hub writes (Tasks).

The criteria grammar (docs/crm_reminders.md §1.4): ``(field:operator:value)`` joined by ``and`` /
``or`` inside parentheses, e.g. ``((Hub_Reminder_Key:equals:a)or(Hub_Reminder_Key:equals:b))``;
``\\,``, ``\\(`` and ``\\)`` escape those characters in a value; at most 10 criteria. Operators:
``equals``, ``not_equal``, ``starts_with``, ``in`` (comma-separated values). Text compares without
case. Zoho documents one quirk the emulator keeps: with more than one criterion, ``equals`` also
matches values that merely start with the given word ("ABC" matches "ABC Inc"), so a client must
compare what it gets back. Results page like Get Records (``per_page`` ≤ 200, 2,000 records at most
by ``page``); nothing found is 204.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.zoho_schema import ZohoError

MAX_CRITERIA = 10
MAX_RECORDS = 2_000
OPERATORS = frozenset({"equals", "not_equal", "starts_with", "in"})


@dataclass(frozen=True)
class Criterion:
    field: str
    operator: str
    value: str


@dataclass(frozen=True)
class Group:
    op: str  # "and" | "or"
    parts: tuple[Any, ...]


def _invalid(reason: str) -> ZohoError:
    return ZohoError(400, "INVALID_QUERY", "Invalid query formed", {"reason": reason})


class _Parser:
    def __init__(self, text: str, fields: frozenset[str]) -> None:
        self.text = text
        self.pos = 0
        self.fields = fields
        self.count = 0

    def parse(self) -> Any:
        node = self._expr()
        if self.pos != len(self.text):
            raise _invalid(f"unexpected text at position {self.pos}")
        return node

    def _expr(self) -> Any:
        if not self.text.startswith("(", self.pos):
            raise _invalid(f"expected '(' at position {self.pos}")
        self.pos += 1
        if self.text.startswith("(", self.pos):  # a group: (A)and(B)...
            parts = [self._expr()]
            ops = set()
            while not self.text.startswith(")", self.pos):
                for op in ("and", "or"):
                    if self.text.startswith(op, self.pos):
                        self.pos += len(op)
                        ops.add(op)
                        break
                else:
                    raise _invalid(f"expected 'and' or 'or' at position {self.pos}")
                parts.append(self._expr())
            if len(ops) > 1:
                raise _invalid("mix 'and' and 'or' only with parentheses around each pair")
            self.pos += 1
            if len(parts) == 1:
                return parts[0]
            return Group(ops.pop(), tuple(parts))
        return self._criterion()

    def _criterion(self) -> Criterion:
        pieces: list[str] = []
        current: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise _invalid("unbalanced parentheses")
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                current.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch == ")":
                self.pos += 1
                break
            if ch == "(":
                raise _invalid(f"unescaped '(' in a value at position {self.pos}")
            if ch == ":" and len(pieces) < 2:
                pieces.append("".join(current))
                current = []
            else:
                current.append(ch)
            self.pos += 1
        pieces.append("".join(current))
        if len(pieces) != 3:
            raise _invalid("a criterion is (field:operator:value)")
        field, operator, value = (p.strip() for p in pieces)
        if field not in self.fields:
            raise ZohoError(
                400,
                "INVALID_QUERY",
                "invalid query formed",
                {"api_name": field, "reason": "the field is not searchable"},
            )
        if operator not in OPERATORS:
            raise ZohoError(
                400,
                "INVALID_QUERY",
                "invalid query formed",
                {"api_name": field, "operator": operator, "reason": "the operator is not supported"},
            )
        self.count += 1
        if self.count > MAX_CRITERIA:
            raise ZohoError(400, "LIMIT_EXCEEDED", "the criteria exceeds the limit", {"limit": MAX_CRITERIA})
        return Criterion(field, operator, value)


def parse_criteria(text: str, fields: frozenset[str]) -> tuple[Any, int]:
    """The parsed criteria and how many single criteria it holds; ZohoError for anything malformed."""
    parser = _Parser(text.strip(), fields)
    node = parser.parse()
    return node, parser.count


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _holds(c: Criterion, record: dict[str, Any], fuzzy: bool) -> bool:
    stored = _text(record.get(c.field))
    if c.operator == "not_equal":
        return stored is None or stored.casefold() != c.value.casefold()
    if stored is None:
        return False
    held, wanted = stored.casefold(), c.value.casefold()
    if c.operator == "equals":
        return held == wanted or (fuzzy and held.startswith(wanted + " "))
    if c.operator == "starts_with":
        return held.startswith(wanted)
    return held in {v.strip().casefold() for v in c.value.split(",")}  # in


def matches(node: Any, record: dict[str, Any], fuzzy: bool) -> bool:
    if isinstance(node, Criterion):
        return _holds(node, record, fuzzy)
    results = (matches(part, record, fuzzy) for part in node.parts)
    return all(results) if node.op == "and" else any(results)


def search(records: list[dict[str, Any]], criteria: str, fields: frozenset[str]) -> list[dict[str, Any]]:
    """The records matching ``criteria``, oldest id first."""
    node, count = parse_criteria(criteria, fields)
    found = [r for r in records if matches(node, r, fuzzy=count > 1)]
    return sorted(found, key=lambda r: int(r["id"]))
