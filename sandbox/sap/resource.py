"""Resource paths below a service root: ``A_SalesOrder('1')/to_Item/$count`` and key predicates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sandbox.sap.edm import EntityType
from sandbox.sap.errors import SapError, not_found_segment
from sandbox.sap.odata_query import parse_literal

_SEGMENT_RE = re.compile(r"^(?P<name>\$?[A-Za-z_][A-Za-z0-9_]*)(?:\((?P<key>.*)\))?$", re.DOTALL)


@dataclass
class Segment:
    name: str
    key: str | None  # the text between the parentheses, if any


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside single-quoted literals."""
    parts, current, quoted = [], [], False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def parse_path(path: str) -> list[Segment]:
    segments = []
    for raw in _split(path.strip("/"), "/"):
        if not raw:
            continue
        match = _SEGMENT_RE.match(raw)
        if not match:
            raise not_found_segment(raw)
        segments.append(Segment(match.group("name"), match.group("key")))
    return segments


def parse_key(text: str, entity_type: EntityType, segment: str) -> tuple[Any, ...]:
    """The key values of ``('1')`` or ``(SalesOrder='1',SalesOrderItem='10')`` in key order."""
    keys = entity_type.keys
    parts = _split(text, ",")
    values: dict[str, Any] = {}
    try:
        if len(parts) == 1 and len(_split(parts[0], "=")) == 1:
            if len(keys) != 1:
                raise not_found_segment(segment)
            values[keys[0]] = parse_literal(parts[0])
        else:
            for part in parts:
                name, *rest = _split(part, "=")
                if len(rest) != 1 or name.strip() not in keys:
                    raise not_found_segment(segment)
                values[name.strip()] = parse_literal(rest[0])
    except SapError as exc:
        if exc.status == 404:
            raise
        raise SapError(400, exc.code, f"Invalid key predicate in segment '{segment}'") from None
    if set(values) != set(keys):
        raise not_found_segment(segment)
    return tuple(values[k] if isinstance(values[k], str) else str(values[k]) for k in keys)
