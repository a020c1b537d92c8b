"""OData V2 system query options: ``$filter``, ``$orderby``, ``$select``, ``$expand`` and literals.

``$filter`` supports eq ne gt ge lt le, and or not, parentheses, substringof / startswith / endswith /
tolower / toupper / trim / length / indexof, and the literals ``'text'`` (quote doubled inside),
numbers with or without the ``M``/``L``/``D``/``F`` suffix, ``datetime'…'``, ``datetimeoffset'…'``,
``time'PT…'``, ``guid'…'``, true, false and null. A comparison with null is true only for eq null /
ne null, as in SQL. Literal types are not checked against the property strictly: a ``datetime``
literal compares with a DateTimeOffset property and vice versa (Gateway is stricter [verify]).
Error texts follow the Gateway framework's (/IWBEP/CM_MGW_RT) style; their numbers are the
emulator's choice [verify].
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.sap.edm import EntityType, Prop
from sandbox.sap.errors import SapError
from sandbox.sap.odata_json import ExpandTree

FILTER_ERROR = "/IWBEP/CM_MGW_RT/004"
# Bounds on a $filter expression, so a hostile one is refused rather than exhausting the stack
# (Gateway refuses over-complex expressions too; these numbers are the emulator's [verify]).
INT32_MAX = 2**31 - 1
MAX_NESTING = 50
MAX_OPERATORS = 200
_COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
_TOKEN_RE = re.compile(
    r"""\s*(?:
    (?P<typed>(?:datetimeoffset|datetime|time|guid|X|binary)'(?:[^']|'')*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMlLdDfF]?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[(),])
    )""",
    re.VERBOSE,
)


def query_error(message: str) -> SapError:
    return SapError(400, FILTER_ERROR, message)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise query_error(f"Invalid token detected at position {pos + 1}")
        kind = match.lastgroup or "punct"
        tokens.append(Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


def parse_datetime_literal(text: str, *, offset: bool) -> datetime:
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise query_error(f"Invalid {'datetimeoffset' if offset else 'datetime'} literal '{text}'") from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def literal_value(token: Token) -> Any:
    """The Python value of a literal token (also used for keys and function parameters)."""
    text = token.text
    if token.kind == "string":
        return text[1:-1].replace("''", "'")
    if token.kind == "number":
        try:
            return Decimal(text.rstrip("mMlLdDfF"))
        except InvalidOperation:
            raise query_error(f"Invalid number literal '{text}'") from None
    if token.kind == "typed":
        prefix, body = text.split("'", 1)
        body = body[:-1].replace("''", "'")
        if prefix == "datetime":
            return parse_datetime_literal(body, offset=False)
        if prefix == "datetimeoffset":
            return parse_datetime_literal(body, offset=True)
        if prefix == "time":
            match = re.match(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.\d+)?S)?$", body)
            if not match:
                raise query_error(f"Invalid time literal '{text}'")
            h, m, s = (int(g or 0) for g in match.groups())
            try:
                return time(h, m, s)
            except ValueError:
                raise query_error(f"Invalid time literal '{text}'") from None
        return body
    if token.kind == "name" and token.text in ("true", "false"):
        return token.text == "true"
    if token.kind == "name" and token.text == "null":
        return None
    raise query_error(f"Invalid literal '{text}'")


def parse_literal(text: str) -> Any:
    """One literal in URL syntax, e.g. ``'TG11'``, ``10M``, ``datetime'2017-12-31T00:00'``."""
    tokens = tokenize(text)
    if len(tokens) != 1:
        raise query_error(f"Invalid literal '{text}'")
    return literal_value(tokens[0])


# -- $filter --------------------------------------------------------------------------------------

Node = tuple[Any, ...]
_FUNCTIONS = {
    "substringof": 2,
    "startswith": 2,
    "endswith": 2,
    "tolower": 1,
    "toupper": 1,
    "trim": 1,
    "length": 1,
    "indexof": 2,
}


class _Parser:
    def __init__(self, text: str, entity_type: EntityType) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.entity_type = entity_type
        self.depth = 0
        self.operators = 0

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise query_error(f"Invalid filter expression: nested deeper than {MAX_NESTING} levels")

    def operator(self) -> None:
        self.operators += 1
        if self.operators > MAX_OPERATORS:
            raise query_error(f"Invalid filter expression: more than {MAX_OPERATORS} operators")

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise query_error(f"Invalid filter expression: '{self.text}' ends unexpectedly")
        self.i += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise query_error(f"Invalid token detected at position {token.pos + 1}: '{text}' expected")

    def is_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "name" and token.text in words

    def parse(self) -> Node:
        node = self.or_expr()
        if self.peek() is not None:
            token = self.peek()
            assert token is not None
            raise query_error(f"Invalid token detected at position {token.pos + 1}")
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.is_word("or"):
            self.take()
            self.operator()
            node = ("or", node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.not_expr()
        while self.is_word("and"):
            self.take()
            self.operator()
            node = ("and", node, self.not_expr())
        return node

    def not_expr(self) -> Node:
        if self.is_word("not"):
            self.take()
            self.nest()
            node = ("not", self.not_expr())
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        left = self.primary()
        if self.is_word(*_COMPARISONS):
            op = self.take().text
            return ("cmp", op, left, self.primary())
        return left

    def primary(self) -> Node:
        token = self.take()
        if token.text == "(":
            self.nest()
            node = self.or_expr()
            self.expect(")")
            self.depth -= 1
            return node
        if token.kind == "name" and token.text not in ("true", "false", "null"):
            nxt = self.peek()
            if nxt is not None and nxt.text == "(":
                return self.call(token)
            prop = self.entity_type.by_name.get(token.text)
            if prop is None:
                raise query_error(f"Property '{token.text}' not found in type '{self.entity_type.name}'")
            return ("prop", prop)
        return ("lit", literal_value(token))

    def call(self, name: Token) -> Node:
        arity = _FUNCTIONS.get(name.text)
        if arity is None:
            raise query_error(f"Function '{name.text}' is not supported")
        self.expect("(")
        self.nest()
        args = [self.or_expr()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.take()
            args.append(self.or_expr())
        self.expect(")")
        self.depth -= 1
        if len(args) != arity:
            raise query_error(f"Function '{name.text}' expects {arity} arguments")
        return ("call", name.text, *args)


def parse_filter(text: str, entity_type: EntityType) -> Node:
    return _Parser(text, entity_type).parse()


def _coerce(prop: Prop | None, value: Any) -> Any:
    """A literal in the property's type, so that comparisons compare like with like."""
    if prop is None or value is None:
        return value
    if prop.type == "Edm.Decimal" and isinstance(value, Decimal | int):
        return Decimal(value)
    if prop.type == "Edm.String" and isinstance(value, Decimal):
        raise query_error(f"Invalid filter: property '{prop.name}' is a string; use '…' to quote the value")
    if prop.type in ("Edm.Decimal", "Edm.Int32") and isinstance(value, str):
        raise query_error(f"Invalid filter: property '{prop.name}' is numeric")
    return value


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return left == right
    if op == "ne":
        return left != right
    if left is None or right is None:
        return False
    try:
        if op == "gt":
            return left > right
        if op == "ge":
            return left >= right
        if op == "lt":
            return left < right
        return left <= right
    except TypeError:
        raise query_error("Invalid filter: the operands cannot be compared") from None


Predicate = Callable[[dict[str, Any]], Any]


def compile_node(node: Node) -> Predicate:
    kind = node[0]
    if kind == "prop":
        name = node[1].name
        return lambda row: row.get(name)
    if kind == "lit":
        value = node[1]
        return lambda row: value
    if kind == "and":
        a, b = compile_node(node[1]), compile_node(node[2])
        return lambda row: bool(a(row)) and bool(b(row))
    if kind == "or":
        a, b = compile_node(node[1]), compile_node(node[2])
        return lambda row: bool(a(row)) or bool(b(row))
    if kind == "not":
        a = compile_node(node[1])
        return lambda row: not a(row)
    if kind == "cmp":
        op, left, right = node[1], node[2], node[3]
        # Literals take the type of the property they are compared with.
        if left[0] == "prop" and right[0] == "lit":
            right = ("lit", _coerce(left[1], right[1]))
        elif right[0] == "prop" and left[0] == "lit":
            left = ("lit", _coerce(right[1], left[1]))
        a, b = compile_node(left), compile_node(right)
        return lambda row: _compare(op, a(row), b(row))
    if kind == "call":
        return _compile_call(node[1], [compile_node(arg) for arg in node[2:]])
    raise query_error("Invalid filter expression")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _compile_call(name: str, args: list[Predicate]) -> Predicate:
    if name == "substringof":
        return lambda row: _text(args[0](row)) in _text(args[1](row))
    if name == "startswith":
        return lambda row: _text(args[0](row)).startswith(_text(args[1](row)))
    if name == "endswith":
        return lambda row: _text(args[0](row)).endswith(_text(args[1](row)))
    if name == "tolower":
        return lambda row: _text(args[0](row)).lower()
    if name == "toupper":
        return lambda row: _text(args[0](row)).upper()
    if name == "trim":
        return lambda row: _text(args[0](row)).strip()
    if name == "length":
        return lambda row: Decimal(len(_text(args[0](row))))
    return lambda row: Decimal(_text(args[0](row)).find(_text(args[1](row))))


def compile_filter(text: str, entity_type: EntityType) -> tuple[Node, Predicate]:
    node = parse_filter(text, entity_type)
    predicate = compile_node(node)
    return node, lambda row: bool(predicate(row))


def equality_lookup(node: Node) -> tuple[str, set[Any]] | None:
    """``(property, values)`` when every matching row must have the property equal to one of the
    values, so a store can answer from an index instead of scanning."""
    kind = node[0]
    if kind == "cmp" and node[1] == "eq":
        left, right = node[2], node[3]
        if left[0] == "prop" and right[0] == "lit":
            return left[1].name, {_coerce(left[1], right[1])}
        if right[0] == "prop" and left[0] == "lit":
            return right[1].name, {_coerce(right[1], left[1])}
        return None
    if kind == "or":
        a, b = equality_lookup(node[1]), equality_lookup(node[2])
        if a and b and a[0] == b[0]:
            return a[0], a[1] | b[1]
        return None
    if kind == "and":
        return equality_lookup(node[1]) or equality_lookup(node[2])
    return None


# -- $orderby, $select, $expand ------------------------------------------------------------------


def parse_orderby(text: str, entity_type: EntityType) -> list[tuple[str, bool]]:
    """``[(property, descending)]``."""
    keys = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise query_error(f"Invalid $orderby expression '{text}'")
        if words[0] not in entity_type.by_name:
            raise query_error(f"Property '{words[0]}' not found in type '{entity_type.name}'")
        keys.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return keys


def sort_rows(rows: list[dict[str, Any]], order: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    # Stable sorts from the last key to the first give a multi-key order; null sorts first (asc).
    for name, descending in reversed(order):
        rows.sort(
            key=lambda r, n=name: (r.get(n) is not None, r.get(n) if r.get(n) is not None else 0), reverse=descending
        )
    return rows


def parse_select(text: str, entity_type: EntityType) -> set[str] | None:
    names = {n.strip() for n in text.split(",") if n.strip()}
    if not names or "*" in names:
        return None
    for name in names:
        if name not in entity_type.by_name and name.split("/")[0] not in entity_type.nav_by_name:
            raise query_error(f"Property '{name}' not found in type '{entity_type.name}'")
    return {n.split("/")[0] for n in names}


def parse_expand(text: str, entity_type: EntityType, type_of: Callable[[str], EntityType]) -> ExpandTree:
    """``to_Item/to_ScheduleLine,to_Partner`` → ``{"to_Item": {"to_ScheduleLine": {}}, "to_Partner": {}}``;
    ``type_of`` maps a navigation target (entity set name) to its type, to check deeper paths."""
    tree: ExpandTree = {}
    for path in (p.strip() for p in text.split(",")):
        if not path:
            continue
        node, current = tree, entity_type
        for name in path.split("/"):
            nav = current.nav_by_name.get(name)
            if nav is None:
                raise query_error(f"Property '{name}' not found in type '{current.name}'")
            node = node.setdefault(name, {})
            current = type_of(nav.target)
    return tree


def parse_int_option(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    # Edm.Int32, ASCII digits only (str.isdigit also takes "²", which int() refuses).
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or int(raw) > INT32_MAX:
        raise query_error(f"Invalid value '{raw[:50]}' for system query option {name}")
    return int(raw)
