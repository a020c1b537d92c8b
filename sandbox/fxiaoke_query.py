"""``search_query_info`` for ``/cgi/crm/v2/data/query``: filters, orders, paging limits, projection.

Pure logic over a list of stored records (crm_report.md §2.4): ``limit`` ≤ 100, ``offset`` a multiple
of ``limit`` and ≤ 10,000, filters ANDed with ``field_values`` always a list of strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sandbox.fxiaoke_schema import (
    LIST_TYPES,
    NUMERIC_TYPES,
    OBJECTS,
    OFFSET_TOO_LARGE,
    TIME_TYPES,
    FxiaokeError,
    known,
    param_error,
    to_decimal,
)

MAX_LIMIT = 100
MAX_OFFSET = 10_000
OPERATORS = frozenset(
    {
        "EQ", "N", "GT", "GTE", "LT", "LTE", "LIKE", "NLIKE", "IS", "ISN", "IN", "NIN",
        "BETWEEN", "NBETWEEN", "STARTWITH", "ENDWITH", "CONTAINS", "HASANYOF", "NHASANYOF",
    }
)  # fmt: skip
_NEGATIVE = frozenset({"N", "NLIKE", "NIN", "NBETWEEN", "NHASANYOF"})
_DEFAULT_ORDER = [{"fieldName": "last_modified_time", "isAsc": False}]


class OffsetTooLarge(FxiaokeError):
    def __init__(self) -> None:
        super().__init__(
            OFFSET_TOO_LARGE["errorCode"], OFFSET_TOO_LARGE["errorMessage"], OFFSET_TOO_LARGE["errorDescription"]
        )


@dataclass(frozen=True)
class Filter:
    field: str
    kind: str
    operator: str
    values: tuple[Any, ...]


def _typed(kind: str, raw: Any) -> Any:
    """A filter value converted to the field's type; None when it does not convert."""
    if kind in NUMERIC_TYPES:
        return to_decimal(raw)
    if kind in TIME_TYPES:
        number = to_decimal(raw)
        # Beyond ±10^20 ms no stored time can match; such a value does not convert.
        return int(number) if number is not None and abs(number) < 10**20 else None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def _stored(kind: str, value: Any) -> Any:
    if kind in NUMERIC_TYPES:
        return to_decimal(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def parse_filters(object_name: str, raw: Any) -> list[Filter]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise param_error("filters must be a list")
    fields = OBJECTS[object_name]
    parsed = []
    for item in raw:
        if not isinstance(item, dict):
            raise param_error("each filter must be an object")
        name, operator, values = item.get("field_name"), item.get("operator"), item.get("field_values")
        if not known(name, fields):
            raise param_error(f"filter field_name {name!r} 不存在")
        if not known(operator, OPERATORS):
            raise param_error(f"filter operator {operator!r} is illegal")
        if not isinstance(values, list):
            raise param_error("field_values must be a list")
        if operator in ("BETWEEN", "NBETWEEN") and len(values) != 2:
            raise param_error("BETWEEN needs two field_values")
        if operator not in ("IS", "ISN") and not values:
            raise param_error("field_values must not be empty")
        kind = fields[name]
        parsed.append(Filter(name, kind, operator, tuple(_typed(kind, v) for v in values)))
    return parsed


def _holds(f: Filter, record: dict[str, Any]) -> bool:
    raw = record.get(f.field)
    if f.operator == "IS":
        return raw is None or raw == "" or raw == []
    if f.operator == "ISN":
        return not (raw is None or raw == "" or raw == [])
    if raw is None:
        return f.operator in _NEGATIVE  # "not equal" and friends match empty values
    if f.kind in LIST_TYPES:
        members = set(raw)
        overlap = bool(members & set(f.values))
        if f.operator in ("EQ", "IN", "HASANYOF", "CONTAINS"):
            return overlap
        if f.operator in ("N", "NIN", "NHASANYOF"):
            return not overlap
        return False
    value = _stored(f.kind, raw)
    if value is None:  # a number field holding text: only the negative operators match it
        return f.operator in _NEGATIVE
    return _compare(f.operator, value, f.values)


def _compare(op: str, value: Any, values: tuple[Any, ...]) -> bool:
    first = values[0] if values else None
    try:
        if op == "EQ":
            return value == first
        if op == "N":
            return value != first
        if op == "GT":
            return first is not None and value > first
        if op == "GTE":
            return first is not None and value >= first
        if op == "LT":
            return first is not None and value < first
        if op == "LTE":
            return first is not None and value <= first
        if op == "IN":
            return value in values
        if op == "NIN":
            return value not in values
        if op in ("BETWEEN", "NBETWEEN"):
            inside = values[0] is not None and values[1] is not None and values[0] <= value <= values[1]
            return inside if op == "BETWEEN" else not inside
    except TypeError:
        return False
    text, needle = str(value), str(first)
    if op in ("LIKE", "CONTAINS", "HASANYOF"):
        return needle in text
    if op in ("NLIKE", "NHASANYOF"):
        return needle not in text
    if op == "STARTWITH":
        return text.startswith(needle)
    if op == "ENDWITH":
        return text.endswith(needle)
    return False


def _sort(records: list[dict[str, Any]], object_name: str, orders: Any) -> list[dict[str, Any]]:
    if orders is None or orders == []:
        orders = _DEFAULT_ORDER
    if not isinstance(orders, list):
        raise param_error("orders must be a list")
    fields = OBJECTS[object_name]
    result = sorted(records, key=lambda r: r["_id"])  # a stable base so equal keys page consistently
    for order in reversed(orders):
        if not isinstance(order, dict) or not known(order.get("fieldName"), fields):
            raise param_error(f"orders fieldName {order!r} is illegal")
        name, kind = order["fieldName"], fields[order["fieldName"]]
        ascending = order.get("isAsc", True) is not False

        def key(r: dict[str, Any], name: str = name, kind: str = kind) -> tuple[int, Any]:
            raw = r.get(name)
            if raw is None or raw == [] or raw == "":
                return (-1, "")
            value = _stored(kind, raw)
            if isinstance(value, list):
                value = ",".join(v if isinstance(v, str) else json.dumps(v, sort_keys=True) for v in value)
            if value is None:  # text in a number field sorts as zero
                value = Decimal(0)
            return (0, value)

        # Missing values sort first ascending (last descending), whatever the type.
        result.sort(key=key, reverse=not ascending)
    return result


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).lstrip("-").isdigit():
        raise param_error(f"{name} must be an integer")
    return int(value)


@dataclass(frozen=True)
class QueryResult:
    rows: list[dict[str, Any]]
    offset: int
    limit: int
    total: int


def run_query(
    object_name: str, records: list[dict[str, Any]], search: Any, *, with_total: bool, include_null: bool
) -> QueryResult:
    if not isinstance(search, dict):
        raise param_error("search_query_info 为必填项")
    if "limit" not in search:
        raise param_error("limit 为必填项")
    limit = _int(search["limit"], "limit")
    offset = _int(search.get("offset", 0), "offset")
    if not 1 <= limit <= MAX_LIMIT:
        raise param_error(f"limit out of range {MAX_LIMIT}")
    if offset < 0 or offset % limit:
        raise param_error("offset must be a non-negative multiple of limit")
    if offset > MAX_OFFSET:
        raise OffsetTooLarge()
    filters = parse_filters(object_name, search.get("filters"))
    matching = [r for r in records if all(_holds(f, r) for f in filters)]
    ordered = _sort(matching, object_name, search.get("orders"))
    page = ordered[offset : offset + limit]
    projection = search.get("fieldProjection")
    if projection is not None and not (isinstance(projection, list) and all(isinstance(p, str) for p in projection)):
        raise param_error("fieldProjection must be a list of field names")
    names = list(dict.fromkeys(["_id", *projection])) if projection else list(OBJECTS[object_name])
    rows = []
    for record in page:
        if include_null:
            rows.append({n: record.get(n) for n in names if n in OBJECTS[object_name]})
        elif projection:
            rows.append({n: record[n] for n in names if n in record})
        else:
            rows.append(dict(record))
    return QueryResult(rows, offset, limit, len(matching) if with_total else 0)
