"""OData V2 verbose JSON: values in and out, entities with ``__metadata`` and navigation links.

Out (sap_report.md §3.2): ``Edm.DateTime`` as ``/Date(ms)/``, ``Edm.DateTimeOffset`` as
``/Date(ms+0000)/``, ``Edm.Time`` as ``PT14H30M00S``, decimals as strings (amounts at their
currency's decimals, quantities at 3, other decimals at the property's scale), booleans as JSON
booleans, empty strings as ``""``. In: the same forms, plus ISO-8601 dates and plain JSON numbers
for decimals, which real Gateway systems also accept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from sandbox.sap.edm import ComplexType, EntitySet, EntityType, Prop, Service

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATE_RE = re.compile(r"^/Date\((-?\d+)(?:([+-])(\d{4}))?\)/$")
_TIME_RE = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.\d+)?S)?$")
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF", "TWD"})

ExpandTree = dict[str, "ExpandTree"]


def currency_decimals(currency: str | None) -> int:
    return 0 if currency in ZERO_DECIMAL_CURRENCIES else 2


def epoch_ms(moment: datetime) -> int:
    return (moment.astimezone(UTC) - EPOCH) // timedelta(milliseconds=1)


def format_date(moment: datetime) -> str:
    return f"/Date({epoch_ms(moment)})/"


def format_date_offset(moment: datetime) -> str:
    return f"/Date({epoch_ms(moment)}+0000)/"


def format_time(value: time) -> str:
    return f"PT{value.hour:02d}H{value.minute:02d}M{value.second:02d}S"


def quantize(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def decimal_places(p: Prop, row: dict[str, Any] | None, props: dict[str, Prop]) -> int:
    """Amounts at the currency's decimals, quantities at 3, anything else at the property's scale."""
    if p.unit and p.unit in props:
        unit = props[p.unit]
        if unit.semantics == "currency-code":
            return currency_decimals((row or {}).get(p.unit))
        return min(3, p.scale or 0)
    return p.scale or 0


def format_value(p: Prop, value: Any, row: dict[str, Any] | None = None, props: dict[str, Prop] | None = None) -> Any:
    if value is None:
        # ABAP has no null strings: an initial value is "" whatever the metadata's Nullable says.
        return "" if p.type == "Edm.String" else None
    if p.type == "Edm.String":
        return str(value)
    if p.type == "Edm.Decimal":
        return str(quantize(Decimal(value), decimal_places(p, row, props or {})))
    if p.type == "Edm.DateTime":
        return format_date(value)
    if p.type == "Edm.DateTimeOffset":
        return format_date_offset(value)
    if p.type == "Edm.Time":
        return format_time(value)
    if p.type == "Edm.Boolean":
        return bool(value)
    if p.type == "Edm.Int32":
        return int(value)
    return value


# The range of ABAP dates and timestamps: 0001-01-01 … 9999-12-31.
FIRST_MOMENT = datetime(1, 1, 1, tzinfo=UTC)
LAST_MOMENT = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def parse_datetime_text(text: str) -> datetime:
    """``/Date(ms)/``, ``/Date(ms+0000)/`` or ISO-8601 (naive = UTC); ValueError outside 0001–9999."""
    match = _DATE_RE.match(text)
    try:
        if match:
            # The ms value is the instant; a "+0000"-style suffix only says which offset it was shown in.
            value = EPOCH + timedelta(milliseconds=int(match.group(1)))
        else:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
            value = value if value.tzinfo else value.replace(tzinfo=UTC)
            value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date is out of range") from None
    if not FIRST_MOMENT <= value <= LAST_MOMENT:
        raise ValueError("the date is out of range")
    return value


def check_decimal(p: Prop, value: Decimal) -> Decimal:
    """``value`` fits ``Edm.Decimal(Precision, Scale)``: at most Precision − Scale integer digits and
    Scale decimals (trailing zeros do not count); else ValueError, as Gateway refuses it."""
    if p.precision is None:
        return value
    scale = p.scale or 0
    _, digits, exponent = value.normalize().as_tuple()
    assert isinstance(exponent, int)  # finite
    decimals = max(0, -exponent)
    integer_digits = max(0, len(digits) + exponent) if value else 0
    if decimals > scale:
        raise ValueError(f"more than {scale} decimal places (Edm.Decimal({p.precision},{scale}))")
    if integer_digits > p.precision - scale:
        raise ValueError(f"out of range for Edm.Decimal({p.precision},{scale})")
    return value


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_value(p: Prop, raw: Any) -> Any:
    """A JSON payload value for ``p`` as stored; raises ValueError when it does not fit."""
    if raw is None:
        if not p.nullable:
            raise ValueError("null is not allowed")
        return None
    if p.type == "Edm.String":
        if not isinstance(raw, str):
            raise ValueError("a string is expected")
        if _has_surrogates(raw):
            raise ValueError("the text is not valid Unicode (unpaired surrogate)")
        if p.max_length is not None and len(raw) > p.max_length:
            raise ValueError(f"longer than {p.max_length} characters")
        return raw
    if p.type == "Edm.Decimal":
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise ValueError("a decimal is expected")
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            raise ValueError("a decimal is expected") from None
        if not value.is_finite():
            raise ValueError("a decimal is expected")
        return check_decimal(p, value)
    if p.type in ("Edm.DateTime", "Edm.DateTimeOffset"):
        if not isinstance(raw, str):
            raise ValueError("a date is expected")
        return parse_datetime_text(raw)
    if p.type == "Edm.Time":
        match = _TIME_RE.match(raw) if isinstance(raw, str) else None
        if not match:
            raise ValueError("a time (PTxxHxxMxxS) is expected")
        h, m, s = (int(g or 0) for g in match.groups())
        return time(h, m, s)  # ValueError past 23:59:59
    if p.type == "Edm.Boolean":
        if not isinstance(raw, bool):
            raise ValueError("true or false is expected")
        return raw
    if p.type == "Edm.Int32":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError("an integer is expected")
        if not -(2**31) <= raw < 2**31:
            raise ValueError("out of range for Edm.Int32")
        return raw
    return raw


def default_value(p: Prop) -> Any:
    """The initial value ABAP stores for a field nobody set."""
    if p.type == "Edm.String":
        return ""
    if p.type == "Edm.Decimal":
        return Decimal(0)
    if p.type == "Edm.Boolean":
        return False
    if p.type == "Edm.Int32":
        return 0
    return None


def blank_row(entity_type: EntityType) -> dict[str, Any]:
    return {p.name: default_value(p) for p in entity_type.props}


def key_literal(value: Any) -> str:
    return "'" + quote(str(value).replace("'", "''"), safe="-_.~!$&'*+,;=:@") + "'"


def key_predicate(entity_type: EntityType, row: dict[str, Any]) -> str:
    keys = entity_type.keys
    if len(keys) == 1:
        return f"({key_literal(row[keys[0]])})"
    return "(" + ",".join(f"{k}={key_literal(row[k])}" for k in keys) + ")"


def etag_value(p: Prop, value: Any) -> str:
    """The weak ETag SAP derives from the concurrency property, as sent back in ``If-Match``."""
    if p.type == "Edm.DateTimeOffset":
        moment = value.astimezone(UTC)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond:06d}0Z"
        return f"W/\"datetimeoffset'{quote(text, safe='-.TZ')}'\""
    return f"W/\"'{value}'\""


def row_etag(entity_type: EntityType, row: dict[str, Any]) -> str | None:
    p = entity_type.etag_prop
    return etag_value(p, row[p.name]) if p is not None and row.get(p.name) is not None else None


@dataclass
class Renderer:
    """Turns stored rows into verbose JSON for one service, with URLs under ``service_url``."""

    service: Service
    service_url: str  # absolute, no trailing slash, from the request's Host
    children: Callable[[EntitySet, str, dict[str, Any]], list[dict[str, Any]]]

    def entity(
        self,
        es: EntitySet,
        row: dict[str, Any],
        select: set[str] | None = None,
        expand: ExpandTree | None = None,
    ) -> dict[str, Any]:
        et = es.type
        uri = f"{self.service_url}/{es.name}{key_predicate(et, row)}"
        meta: dict[str, Any] = {"id": uri, "uri": uri, "type": self.service.qualified(et.name)}
        etag = row_etag(et, row)
        if etag is not None:
            meta["etag"] = etag
        out: dict[str, Any] = {"__metadata": meta}
        for p in et.props:
            if select is None or p.name in select:
                out[p.name] = format_value(p, row.get(p.name), row, et.by_name)
        expand = expand or {}
        for nav in et.navs:
            if nav.name in expand:
                target = self.service.set_by_name[nav.target]
                rows = self.children(es, nav.name, row)
                rendered = [self.entity(target, r, None, expand[nav.name]) for r in rows]
                if nav.many:
                    out[nav.name] = {"results": rendered}
                else:
                    out[nav.name] = rendered[0] if rendered else None
            elif select is None or nav.name in select:
                out[nav.name] = {"__deferred": {"uri": f"{uri}/{nav.name}"}}
        return out

    def collection(
        self,
        es: EntitySet,
        rows: Iterable[dict[str, Any]],
        select: set[str] | None = None,
        expand: ExpandTree | None = None,
        count: int | None = None,
        next_url: str | None = None,
    ) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if count is not None:
            d["__count"] = str(count)
        d["results"] = [self.entity(es, r, select, expand) for r in rows]
        if next_url is not None:
            d["__next"] = next_url
        return {"d": d}

    def complex(self, ct: ComplexType, values: dict[str, Any]) -> dict[str, Any]:
        props = {p.name: p for p in ct.props}
        out: dict[str, Any] = {"__metadata": {"type": self.service.qualified(ct.name)}}
        for p in ct.props:
            out[p.name] = format_value(p, values.get(p.name), values, props)
        return out
