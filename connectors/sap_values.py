"""OData V2 values on the wire: ``/Date(…)/`` dates, decimals as strings, URL literals, filters and
query strings as SAP Gateway reads them (reference/sap_report.md §3.2)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from connectors.base import datetime_to_ms, ms_to_datetime, require_aware, to_decimal

ETAG = "__etag"  # key under which a cleaned entity carries its ETag (from __metadata or the header)
# Kept well below the 8 KB URL limits of web dispatchers and proxies in front of SAP Gateway.
MAX_FILTER_LENGTH = 2_000

_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{1,4})?\)/$")
_MS_PER_DAY = 86_400_000


def is_odata_date(value: Any) -> bool:
    return isinstance(value, str) and _DATE.match(value) is not None


def parse_odata_date(value: str) -> date | datetime:
    """``/Date(ms)/`` at midnight UTC → ``date``; any other ``/Date(ms)/`` → aware UTC ``datetime``;
    ``/Date(ms±mmmm)/`` (DateTimeOffset, offset in minutes) → aware ``datetime`` in that offset.

    SAP renders every ``display-format="Date"`` property as midnight UTC, so the rule gives a ``date``
    for date fields; a time-of-day that happens to be exactly midnight also reads as a date.
    """
    match = _DATE.match(value)
    if match is None:
        raise ValueError(f"not an OData V2 date: {value!r}")
    ms, offset = int(match.group(1)), match.group(2)
    instant = ms_to_datetime(ms)
    if offset is not None:
        return instant.astimezone(timezone(timedelta(minutes=int(offset))))
    if ms % _MS_PER_DAY == 0:
        return instant.date()
    return instant


def parse_edm_datetime(value: str) -> datetime:
    """A ``/Date(…)/`` as an aware datetime whatever it holds (a date reads as its midnight UTC)."""
    parsed = parse_odata_date(value)
    return parsed if isinstance(parsed, datetime) else datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)


def to_odata_date(value: date | datetime) -> str:
    """Edm.DateTime on the wire: a ``date`` as midnight UTC, an aware ``datetime`` as its UTC instant."""
    if isinstance(value, datetime):
        return f"/Date({datetime_to_ms(value)})/"
    return f"/Date({(value - date(1970, 1, 1)).days * _MS_PER_DAY})/"


def to_odata_datetimeoffset(value: datetime) -> str:
    """Edm.DateTimeOffset on the wire, always written in UTC: ``/Date(ms+0000)/``."""
    return f"/Date({datetime_to_ms(value)}+0000)/"


def edm_decimal(value: Decimal | int | str) -> str:
    """An Edm.Decimal as SAP wants it in a JSON body: a plain string, never a float or an exponent."""
    number = to_decimal(value)
    if number is None:
        raise ValueError("a decimal value is required")
    return format(number, "f")


def to_wire(value: Any) -> Any:
    """A request body with Python values written the OData V2 way (Decimal → string, date → /Date/)."""
    if isinstance(value, Decimal):
        return edm_decimal(value)
    if isinstance(value, datetime):
        return to_odata_datetimeoffset(value)
    if isinstance(value, date):
        return to_odata_date(value)
    if isinstance(value, Mapping):
        return {k: to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    return value


def etag_of(entity: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> str | None:
    """The ETag from ``__metadata.etag`` or, when absent, the ``ETag`` response header (verbatim)."""
    metadata = entity.get("__metadata")
    if isinstance(metadata, Mapping) and metadata.get("etag"):
        return str(metadata["etag"])
    if headers is not None and headers.get("ETag"):
        return str(headers["ETag"])
    return None


def clean_entity(raw: Mapping[str, Any], decimals: Collection[str] = ()) -> dict[str, Any]:
    """A verbose-JSON entity as plain values: ``__metadata`` and unexpanded ``__deferred`` links
    dropped, expanded collections as lists, ``/Date(…)/`` as date/datetime, the named ``decimals``
    as ``Decimal`` (at any depth). The ETag, if any, stays under :data:`ETAG`."""
    result: dict[str, Any] = {}
    etag = etag_of(raw)
    if etag:
        result[ETAG] = etag
    for key, value in raw.items():
        if key == "__metadata":
            continue
        if isinstance(value, Mapping):
            if "__deferred" in value:
                continue
            if isinstance(value.get("results"), list):
                result[key] = [clean_entity(v, decimals) if isinstance(v, Mapping) else v for v in value["results"]]
            else:
                result[key] = clean_entity(value, decimals)
        elif key in decimals:
            result[key] = to_decimal(value)
        elif is_odata_date(value):
            result[key] = parse_odata_date(value)
        else:
            result[key] = value
    return result


# ---------------------------------------------------------------------------------------------------
# URL literals, filters and query strings
# ---------------------------------------------------------------------------------------------------

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")


def property_name(name: str) -> str:
    """``name`` itself when it is a property (or navigation path) name; never pasted into a URL unchecked."""
    if not _NAME.match(name):
        raise ValueError(f"not a property name: {name!r}")
    return name


def quote_string(value: str) -> str:
    """An Edm.String literal: single quotes, an embedded quote doubled."""
    return "'" + value.replace("'", "''") + "'"


def decimal_literal(value: Decimal | int | str) -> str:
    return edm_decimal(value) + "M"


def datetime_literal(value: date | datetime) -> str:
    """An Edm.DateTime literal (no offset; an aware datetime is written as its UTC wall time)."""
    if isinstance(value, datetime):
        moment = require_aware(value).astimezone(UTC).replace(tzinfo=None)
        return f"datetime'{moment.isoformat(timespec='microseconds' if moment.microsecond else 'seconds')}'"
    return f"datetime'{value.isoformat()}T00:00:00'"


def datetimeoffset_literal(value: datetime) -> str:
    moment = require_aware(value).astimezone(UTC).replace(tzinfo=None)
    return f"datetimeoffset'{moment.isoformat(timespec='microseconds' if moment.microsecond else 'seconds')}Z'"


def literal(value: Any) -> str:
    """The URL literal of a Python value: str, bool, int, Decimal (``M``), date (``datetime'…'``),
    aware datetime (``datetimeoffset'…'``), None (``null``). Floats and naive datetimes are refused."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return decimal_literal(value)
    if isinstance(value, datetime):
        return datetimeoffset_literal(value)
    if isinstance(value, date):
        return datetime_literal(value)
    raise TypeError(f"no OData literal for {type(value).__name__}")


def compare(name: str, op: str, value: Any) -> str:
    if op not in ("eq", "ne", "gt", "ge", "lt", "le"):
        raise ValueError(f"unknown comparison {op!r}")
    return f"{property_name(name)} {op} {value if isinstance(value, RawLiteral) else literal(value)}"


class RawLiteral(str):
    """A literal already in URL syntax (e.g. :func:`datetime_literal` for an Edm.DateTime property)."""


def eq(name: str, value: Any) -> str:
    return compare(name, "eq", value)


def any_of(name: str, values: Iterable[Any]) -> str:
    terms = [eq(name, v) for v in dict.fromkeys(values)]
    if not terms:
        raise ValueError("any_of needs at least one value")
    return terms[0] if len(terms) == 1 else "(" + " or ".join(terms) + ")"


def all_of(*clauses: str | None) -> str | None:
    parts = [c for c in clauses if c]
    return " and ".join(parts) if parts else None


def any_of_chunks(
    name: str, values: Iterable[Any], *, max_length: int = MAX_FILTER_LENGTH, base: str | None = None
) -> Iterator[str]:
    """``$filter`` expressions ``base and (name eq v1 or …)`` covering every distinct value once,
    each at most ``max_length`` characters once URL-encoded (a single over-long value gets its own)."""
    chunk: list[Any] = []
    for value in dict.fromkeys(values):
        candidate = all_of(base, any_of(name, [*chunk, value])) or ""
        if chunk and len(quote(candidate, safe=_QUERY_SAFE)) > max_length:
            yield all_of(base, any_of(name, chunk)) or ""
            chunk = [value]
        else:
            chunk.append(value)
    if chunk:
        yield all_of(base, any_of(name, chunk)) or ""


_QUERY_SAFE = "'(),:*/"


def encode_query(params: Mapping[str, Any]) -> str:
    """A query string as SAP Gateway reads it: spaces as %20 (never ``+``), quotes and parentheses
    kept readable, ``&``/``=``/``+``/``#`` escaped inside values. ``None`` values are left out."""
    return "&".join(
        f"{quote(str(key), safe='$')}={quote(str(value), safe=_QUERY_SAFE)}"
        for key, value in params.items()
        if value is not None
    )


def entity_path(entity_set: str, key: str | Mapping[str, Any]) -> str:
    """``A_SalesOrder('1000001')`` or ``A_X(K1='a',K2='b')``, the key literals percent-encoded."""
    if isinstance(key, Mapping):
        inner = ",".join(f"{property_name(k)}={literal(v)}" for k, v in key.items())
    else:
        inner = literal(key)
    return f"{property_name(entity_set)}({quote(inner, safe=_QUERY_SAFE + '=')})"
